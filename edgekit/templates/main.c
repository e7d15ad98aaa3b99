/* Example program for the generated model (host or Linux board): runs the model on every sample
 * in INPUT (per sample, each input's bytes back to back: MODEL_INPUT_BYTES) and writes the
 * outputs to OUTPUT the same way. With a third argument it also writes every layer's output for the first input.
 * Prints {"latency_us": [...]}: the wall time of each inference (POSIX monotonic clock).
 *
 *     ./model_run input.bin output.bin [layers.bin]
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <time.h>

#include "model.h"

static FILE *layers_file;

static long microseconds(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return 0;
    return (long)now.tv_sec * 1000000L + now.tv_nsec / 1000L;
}

static void write_layer(int32_t layer, const int8_t *output, int32_t bytes, void *context)
{
    (void)layer;
    (void)context;
    if (fwrite(output, 1, (size_t)bytes, layers_file) != (size_t)bytes)
        fprintf(stderr, "cannot write layer %ld\n", (long)layer);
}

/* One sample's inputs, in order; 0 at the end of the file. */
static int read_inputs(FILE *in)
{
    int32_t i;
    for (i = 0; i < MODEL_INPUTS; i++) {
        size_t n = (size_t)model_input_bytes(i);
        if (fread(model_input(i), 1, n, in) != n)
            return 0;
    }
    return 1;
}

static int write_outputs(FILE *out)
{
    int32_t i;
    for (i = 0; i < MODEL_OUTPUTS; i++) {
        size_t n = (size_t)model_output_bytes(i);
        if (fwrite(model_output(i), 1, n, out) != n)
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    FILE *in, *out;
    long count = 0, start;
    if (argc < 3) {
        fprintf(stderr, "usage: %s INPUT OUTPUT [LAYERS]\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    if (argc > 3) {
        layers_file = fopen(argv[3], "wb");
        if (layers_file == NULL) {
            fprintf(stderr, "cannot open %s\n", argv[3]);
            return 2;
        }
        model_set_layer_hook(write_layer, NULL);
    }
    printf("{\"latency_us\": [");
    while (read_inputs(in)) {
        start = microseconds();
        model_run();
        printf("%s%ld", count > 0 ? ", " : "", microseconds() - start);
        if (!write_outputs(out)) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            return 1;
        }
        if (layers_file != NULL) { /* layers of the first input only */
            fclose(layers_file);
            layers_file = NULL;
            model_set_layer_hook(NULL, NULL);
        }
        count++;
    }
    printf("]}\n");
    fclose(in);
    return fclose(out) == 0 && count > 0 ? 0 : 1;
}
