/* Firmware main for Cortex-M boards: reads samples from the host file input.bin through
 * semihosting (QEMU, or a board behind a debug probe), each sample the model's inputs back to
 * back, and runs the model once per sample, in order (a recurrent model's state carries from
 * one run to the next, as on the device); writes each run's outputs back to back to output.bin
 * and to ticks.bin each run's total ticks, then the ticks of each layer. When the host provides
 * layers.flag, every layer's output of the first run is written to layers.bin as well.
 */
#include "ek_board.h"
#include "model.h"

static uint64_t ticks[1 + MODEL_LAYERS];
static uint64_t mark;
static int layers_file = -1;

static void on_layer(int32_t layer, const int8_t *output, int32_t bytes, void *context)
{
    uint64_t now = ek_counter_read();
    (void)context;
    ticks[1 + layer] = now - mark;
    ticks[0] += now - mark;
    if (layers_file >= 0 && ek_write(layers_file, output, (size_t)bytes) != 0)
        ek_exit(4);
    mark = ek_counter_read();
}

/* Reads one sample's inputs; 0 at the end of the file, -1 on a sample cut short. */
static int read_sample(int file)
{
    int32_t i;
    for (i = 0; i < MODEL_INPUTS; i++)
        if (ek_read(file, model_input(i), (size_t)model_input_bytes(i)) != 0)
            return i == 0 ? 0 : -1;
    return 1;
}

int main(void)
{
    char flag;
    int32_t i, runs = 0;
    int got, output, ticks_file;
    int file = ek_open_input(EK_INPUT_FILE);
    if (ek_read_file("layers.flag", &flag, 1) == 1)
        layers_file = ek_open_output("layers.bin");
    output = ek_open_output(EK_OUTPUT_FILE);
    ticks_file = ek_open_output(EK_TICKS_FILE);
    if (file < 0 || output < 0 || ticks_file < 0)
        return 2;
    model_set_layer_hook(on_layer, 0);
    ek_counter_start();
    while ((got = read_sample(file)) == 1) {
        for (i = 0; i < 1 + MODEL_LAYERS; i++)
            ticks[i] = 0;
        mark = ek_counter_read();
        model_run();
        if (layers_file >= 0) {
            ek_close(layers_file);
            layers_file = -1;
        }
        if (ek_write(ticks_file, ticks, sizeof ticks) != 0)
            return 2;
        for (i = 0; i < MODEL_OUTPUTS; i++)
            if (ek_write(output, model_output(i), (size_t)model_output_bytes(i)) != 0)
                return 3;
        runs++;
    }
    ek_close(file);
    ek_close(output);
    ek_close(ticks_file);
    if (got < 0 || runs == 0) {
        ek_puts("input.bin does not hold whole samples of the model's inputs\n");
        return 1;
    }
    return 0;
}
