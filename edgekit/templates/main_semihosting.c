/* Firmware main for Cortex-M boards: reads one input from the host file input.bin through
 * semihosting (QEMU, or a board behind a debug probe), runs the model once, writes output.bin,
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
    if (ek_read_file("layers.flag", &flag, 1) == 1)
        layers_file = ek_open_output("layers.bin");
    if (ek_read_file(EK_INPUT_FILE, model_input(), MODEL_INPUT_BYTES) != MODEL_INPUT_BYTES) {
        ek_puts("input.bin is shorter than the model's input\n");
        return 1;
    }
    model_set_layer_hook(on_layer, 0);
    ek_counter_start();
    mark = ek_counter_read();
    model_run();
    if (layers_file >= 0)
        ek_close(layers_file);
    if (ek_write_file(EK_TICKS_FILE, ticks, sizeof ticks) != 0)
        return 2;
    return ek_write_file(EK_OUTPUT_FILE, model_output(), MODEL_OUTPUT_BYTES) == 0 ? 0 : 3;
}
