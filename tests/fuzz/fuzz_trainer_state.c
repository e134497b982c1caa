/* fuzz_trainer_state — a checkpoint's trainer_state.json through
 * checkpoint_parse_state, for a run with two tasks, one rank and two data
 * sources. */
#include "fuzz_common.h"
#include "trainer/train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    const char *names[2] = {"topic", "ner"};
    TrainState st;
    memset(&st, 0, sizeof st);
    char err[1024];
    if (checkpoint_parse_state(text, "trainer_state.json", names, 2, 1, 2, &st, err, sizeof err) == 0) {
        if (st.step < 0 || st.loader[0].epoch < 0 || st.loader[1].batch < 0) abort();
    } else if (!strstr(err, "trainer_state.json")) {
        abort(); /* every error names the file */
    }
    free(text);
    return 0;
}
