"""Data shipped inside the edgekit wheel; see the files beside this one."""
