/* Host driver for the kernel tests: runs one edgekit kernel on parameters and data from a file.
 *
 * usage: kernels_harness KIND INPUT OUTPUT
 * INPUT holds whitespace-separated integers: the kernel's parameter struct fields in declaration
 * order, then its arrays (multipliers and shifts, or scale mantissas and exponents; a 0/1 flag
 * before an optional bias; the int8 tensors), as tests/test_kernels.py writes them. OUTPUT
 * receives the output tensor's raw int8 bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_kernels.h"

static FILE *source;

static int64_t next64(void)
{
    long long value;
    if (fscanf(source, "%lld", &value) != 1) {
        fprintf(stderr, "kernels_harness: input ends early\n");
        exit(2);
    }
    return (int64_t)value;
}

static int32_t next(void)
{
    return (int32_t)next64();
}

static void *allocate(size_t bytes)
{
    void *block = malloc(bytes > 0 ? bytes : 1);
    if (block == NULL) {
        fprintf(stderr, "kernels_harness: out of memory\n");
        exit(2);
    }
    return block;
}

static int8_t *s8_array(int32_t count)
{
    int8_t *array = allocate((size_t)count);
    int32_t i;
    for (i = 0; i < count; ++i) {
        array[i] = (int8_t)next();
    }
    return array;
}

static int32_t *s32_array(int32_t count)
{
    int32_t *array = allocate((size_t)count * sizeof(int32_t));
    int32_t i;
    for (i = 0; i < count; ++i) {
        array[i] = next();
    }
    return array;
}

static int64_t *s64_array(int32_t count)
{
    int64_t *array = allocate((size_t)count * sizeof(int64_t));
    int32_t i;
    for (i = 0; i < count; ++i) {
        array[i] = next64();
    }
    return array;
}

static int32_t *optional_s32_array(int32_t count)
{
    return next() ? s32_array(count) : NULL;
}

static ek_channel_quant channel_quant(int32_t count)
{
    ek_channel_quant quant;
    quant.multiplier = s32_array(count);
    quant.shift = s32_array(count);
    return quant;
}

static int32_t run_conv2d(int8_t **output)
{
    ek_conv_params p;
    ek_channel_quant quant;
    const int32_t *bias;
    const int8_t *input, *filter;
    p.input_h = next(), p.input_w = next(), p.input_c = next();
    p.output_h = next(), p.output_w = next(), p.output_c = next();
    p.filter_h = next(), p.filter_w = next();
    p.stride_h = next(), p.stride_w = next();
    p.pad_top = next(), p.pad_left = next();
    p.input_offset = next(), p.output_offset = next();
    p.act_min = next(), p.act_max = next();
    quant = channel_quant(p.output_c);
    bias = optional_s32_array(p.output_c);
    input = s8_array(p.input_h * p.input_w * p.input_c);
    filter = s8_array(p.output_c * p.filter_h * p.filter_w * p.input_c);
    *output = allocate((size_t)(p.output_h * p.output_w * p.output_c));
    ek_conv2d_s8_ref(&p, &quant, input, filter, bias, *output);
    return p.output_h * p.output_w * p.output_c;
}

static int32_t run_depthwise_conv2d(int8_t **output)
{
    ek_depthwise_conv_params p;
    ek_channel_quant quant;
    const int32_t *bias;
    const int8_t *input, *filter;
    int32_t out_c;
    p.input_h = next(), p.input_w = next(), p.input_c = next();
    p.output_h = next(), p.output_w = next();
    p.depth_multiplier = next();
    p.filter_h = next(), p.filter_w = next();
    p.stride_h = next(), p.stride_w = next();
    p.pad_top = next(), p.pad_left = next();
    p.input_offset = next(), p.output_offset = next();
    p.act_min = next(), p.act_max = next();
    out_c = p.input_c * p.depth_multiplier;
    quant = channel_quant(out_c);
    bias = optional_s32_array(out_c);
    input = s8_array(p.input_h * p.input_w * p.input_c);
    filter = s8_array(p.filter_h * p.filter_w * out_c);
    *output = allocate((size_t)(p.output_h * p.output_w * out_c));
    ek_depthwise_conv2d_s8_ref(&p, &quant, input, filter, bias, *output);
    return p.output_h * p.output_w * out_c;
}

static int32_t run_fully_connected(int8_t **output)
{
    ek_fully_connected_params p;
    ek_double_scale scale;
    const int32_t *bias;
    const int8_t *input, *filter;
    p.batches = next(), p.input_depth = next(), p.output_depth = next();
    p.input_offset = next(), p.filter_offset = next(), p.output_offset = next();
    p.per_channel = next();
    p.act_min = next(), p.act_max = next();
    scale.mantissa = s64_array(p.per_channel ? p.output_depth : 1);
    scale.exponent = s32_array(p.per_channel ? p.output_depth : 1);
    bias = optional_s32_array(p.output_depth);
    input = s8_array(p.batches * p.input_depth);
    filter = s8_array(p.output_depth * p.input_depth);
    *output = allocate((size_t)(p.batches * p.output_depth));
    ek_fully_connected_s8_ref(&p, &scale, input, filter, bias, *output);
    return p.batches * p.output_depth;
}

/* in_place: the output buffer is input 1, as an in-place add in a memory plan would run it */
static int32_t run_add(int8_t **output, int in_place)
{
    ek_add_params p;
    int8_t *input1;
    const int8_t *input2;
    p.size = next(), p.left_shift = next();
    p.input1_offset = next(), p.input2_offset = next();
    p.input1_multiplier = next(), p.input1_shift = next();
    p.input2_multiplier = next(), p.input2_shift = next();
    p.output_multiplier = next(), p.output_shift = next();
    p.output_offset = next();
    p.act_min = next(), p.act_max = next();
    input1 = s8_array(p.size);
    input2 = s8_array(p.size);
    *output = in_place ? input1 : allocate((size_t)p.size);
    ek_add_s8_ref(&p, input1, input2, *output);
    return p.size;
}

static int32_t run_mean(int8_t **output)
{
    ek_mean_params p;
    const int8_t *input;
    p.input_h = next(), p.input_w = next(), p.channels = next();
    p.input_offset = next(), p.output_offset = next();
    p.multiplier = next(), p.shift = next();
    input = s8_array(p.input_h * p.input_w * p.channels);
    *output = allocate((size_t)p.channels);
    ek_mean_hw_s8_ref(&p, input, *output);
    return p.channels;
}

static int32_t run_avg_pool2d(int8_t **output)
{
    ek_avg_pool_params p;
    const int8_t *input;
    p.input_h = next(), p.input_w = next(), p.channels = next();
    p.output_h = next(), p.output_w = next();
    p.filter_h = next(), p.filter_w = next();
    p.stride_h = next(), p.stride_w = next();
    p.pad_top = next(), p.pad_left = next();
    p.act_min = next(), p.act_max = next();
    input = s8_array(p.input_h * p.input_w * p.channels);
    *output = allocate((size_t)(p.output_h * p.output_w * p.channels));
    ek_avg_pool2d_s8_ref(&p, input, *output);
    return p.output_h * p.output_w * p.channels;
}

static int32_t run_softmax(int8_t **output)
{
    ek_softmax_params p;
    const int8_t *input;
    p.rows = next(), p.depth = next();
    p.input_multiplier = next(), p.input_left_shift = next(), p.diff_min = next();
    input = s8_array(p.rows * p.depth);
    *output = allocate((size_t)(p.rows * p.depth));
    ek_softmax_s8_ref(&p, input, *output);
    return p.rows * p.depth;
}

static int32_t run_pad(int8_t **output)
{
    ek_pad_params p;
    const int8_t *input;
    int32_t d, in_size = 1, out_size = 1;
    for (d = 0; d < 4; ++d) {
        p.input_dims[d] = next();
    }
    for (d = 0; d < 4; ++d) {
        p.before[d] = next();
    }
    for (d = 0; d < 4; ++d) {
        p.after[d] = next();
    }
    p.pad_value = next();
    for (d = 0; d < 4; ++d) {
        in_size *= p.input_dims[d];
        out_size *= p.input_dims[d] + p.before[d] + p.after[d];
    }
    input = s8_array(in_size);
    *output = allocate((size_t)out_size);
    ek_pad_s8_ref(&p, input, *output);
    return out_size;
}

int main(int argc, char **argv)
{
    const char *kind;
    int8_t *output = NULL;
    int32_t size;
    FILE *sink;

    if (argc != 4) {
        fprintf(stderr, "usage: kernels_harness KIND INPUT OUTPUT\n");
        return 2;
    }
    kind = argv[1];
    source = fopen(argv[2], "r");
    if (source == NULL) {
        fprintf(stderr, "kernels_harness: cannot read %s\n", argv[2]);
        return 2;
    }
    if (strcmp(kind, "conv2d") == 0) {
        size = run_conv2d(&output);
    } else if (strcmp(kind, "depthwise_conv2d") == 0) {
        size = run_depthwise_conv2d(&output);
    } else if (strcmp(kind, "fully_connected") == 0) {
        size = run_fully_connected(&output);
    } else if (strcmp(kind, "add") == 0) {
        size = run_add(&output, 0);
    } else if (strcmp(kind, "add_in_place") == 0) {
        size = run_add(&output, 1);
    } else if (strcmp(kind, "mean") == 0) {
        size = run_mean(&output);
    } else if (strcmp(kind, "avg_pool2d") == 0) {
        size = run_avg_pool2d(&output);
    } else if (strcmp(kind, "softmax") == 0) {
        size = run_softmax(&output);
    } else if (strcmp(kind, "pad") == 0) {
        size = run_pad(&output);
    } else {
        fprintf(stderr, "kernels_harness: unknown kernel %s\n", kind);
        return 2;
    }
    fclose(source);
    sink = fopen(argv[3], "wb");
    if (sink == NULL || fwrite(output, 1, (size_t)size, sink) != (size_t)size) {
        fprintf(stderr, "kernels_harness: cannot write %s\n", argv[3]);
        return 2;
    }
    fclose(sink);
    return 0;
}
