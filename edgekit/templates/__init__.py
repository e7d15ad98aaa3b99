"""Files edgekit writes beside the generated C: example mains, build files, README."""
