/* LOGISTIC, TANH and LEAKY_RELU, int16 (16x8). LOGISTIC and TANH are TFLite's
 * reference_integer_ops::Logistic and Tanh for int16: the input scaled so that 2^9 (LOGISTIC)
 * or 2^8 (TANH) steps span 1/24 of the argument, then interpolated linearly between the entries
 * of a 256-entry table of sigmoid(i / 24) in unsigned Q0.16 (tanh(x) = 2 sigmoid(2x) - 1), the
 * negative half by symmetry; output scale 2^-15. LEAKY_RELU is reference_ops::QuantizeLeakyRelu
 * for int16. Every output may alias its input. */
#include "ek_kernels.h"

/* sigmoid(i / 24) * 2^16, i = 0..255, as TFLite's sigmoid_table_uint16 holds it */
static const uint16_t ek_sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535
};

/* The input in the table's units: times the multiplier, rounded right shift (a power-of-two
 * input scale: times 3 << shift, as TFLite's kernel does when the multiplier is 0). */
static EK_INLINE int32_t ek_sigmoid_input(const ek_sigmoid_s16_params *p, int32_t x)
{
    int32_t multiplier = p->input_multiplier, shift = p->input_left_shift;
    if (multiplier == 0) {
        multiplier = 3 << shift;
        shift = 0;
    }
    return (x * multiplier + (shift > 0 ? (int32_t)1 << (shift - 1) : 0)) >> shift;
}

/* The table interpolated at |x| with `bits` fractional bits per entry, scaled by 2^bits. */
static EK_INLINE uint32_t ek_sigmoid_interpolate(uint32_t magnitude, int32_t bits)
{
    const uint32_t entry = magnitude >> bits;
    const uint32_t a = ek_sigmoid_table[entry], b = ek_sigmoid_table[entry + 1];
    return (a << bits) + (magnitude & (((uint32_t)1 << bits) - 1)) * (b - a);
}

void ek_logistic_s16_ref(const ek_sigmoid_s16_params *params, const int16_t *input,
                         int16_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t x = ek_sigmoid_input(params, input[i]);
        const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
        uint32_t y = magnitude >> 9 >= 255 ? (uint32_t)0x7FFF << 10
                                           : ek_sigmoid_interpolate(magnitude, 9);
        /* sigmoid(-x) = 1 - sigmoid(x) */
        y = x >= 0 ? y + (1u << 9) : (1u << 25) - y + (1u << 9) - 1u;
        output[i] = (int16_t)(y >> 10);
    }
}

void ek_tanh_s16_ref(const ek_sigmoid_s16_params *params, const int16_t *input, int16_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t x = ek_sigmoid_input(params, input[i]);
        const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
        int32_t y = (int32_t)(magnitude >> 8 >= 255 ? (uint32_t)0xFFFF << 8
                                                    : ek_sigmoid_interpolate(magnitude, 8));
        /* 2 sigmoid - 1, rounded; tanh(-x) = -tanh(x) */
        y = x >= 0 ? y - (1 << 23) + (1 << 7) : -y + (1 << 23) + (1 << 7) - 1;
        output[i] = (int16_t)(y >> 8);
    }
}

void ek_leaky_relu_s16_ref(const ek_leaky_relu_s16_params *params, const int16_t *input,
                           int16_t *output)
{
    int32_t i;

    for (i = 0; i < params->size; ++i) {
        const int32_t x = input[i];
        const int32_t y =
            x >= 0 ? ek_multiply_by_quantized_multiplier(x, params->identity_multiplier,
                                                         params->identity_shift)
                   : ek_multiply_by_quantized_multiplier(x, params->alpha_multiplier,
                                                         params->alpha_shift);
        output[i] = (int16_t)ek_clamp(y, INT16_MIN, INT16_MAX);
    }
}
