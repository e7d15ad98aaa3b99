/* Firmware main for Cortex-M boards: reads the model's inputs (back to back, in order) from the
 * host file input.bin through semihosting (QEMU, or a board behind a debug probe), runs the
 * model once, writes its outputs back to back to output.bin,
 * and writes ticks.bin: the run's total ticks, then the ticks of each layer. When the host
 * provides layers.flag, every layer's output is appended to layers.bin as well.
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

int main(void)
{
    char flag;
    int32_t i;
    int file = ek_open_input(EK_INPUT_FILE);
    if (ek_read_file("layers.flag", &flag, 1) == 1)
        layers_file = ek_open_output("layers.bin");
    for (i = 0; i < MODEL_INPUTS; i++) {
        if (file < 0 || ek_read(file, model_input(i), (size_t)model_input_bytes(i)) != 0) {
            ek_puts("input.bin is shorter than the model's inputs\n");
            return 1;
        }
    }
    ek_close(file);
    model_set_layer_hook(on_layer, 0);
    ek_counter_start();
    mark = ek_counter_read();
    model_run();
    if (layers_file >= 0)
        ek_close(layers_file);
    if (ek_write_file(EK_TICKS_FILE, ticks, sizeof ticks) != 0)
        return 2;
    file = ek_open_output(EK_OUTPUT_FILE);
    for (i = 0; i < MODEL_OUTPUTS; i++)
        if (file < 0 || ek_write(file, model_output(i), (size_t)model_output_bytes(i)) != 0)
            return 3;
    ek_close(file);
    return 0;
}
