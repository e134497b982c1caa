/* fuzz_hf_config — a Hugging Face config.json through bert_config_from_json,
 * and the round trip through bert_config_to_json of whatever it accepts. */
#include "fuzz_common.h"
#include "trainer/store/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    BertConfig c;
    bert_config_defaults(&c);
    char err[1024];
    if (bert_config_from_json(&c, text, "config.json", err, sizeof err) == 0) {
        char *js = bert_config_to_json(&c);
        BertConfig c2;
        bert_config_defaults(&c2);
        if (js && bert_config_from_json(&c2, js, "roundtrip", err, sizeof err) != 0) {
            fprintf(stderr, "round trip rejected: %s\n%s\n", err, js);
            abort();
        }
        free(js);
    }
    free(text);
    return 0;
}
