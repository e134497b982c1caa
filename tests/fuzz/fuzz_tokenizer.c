/* fuzz_tokenizer — BasicTokenizer + WordPiece on arbitrary bytes, with a
 * small vocabulary, lowercasing on and off, and a small max word length. */
#include "fuzz_common.h"
#include "data/tokenizer.h"

static Tokenizer *tok[2];

static const char *VOCAB =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nquick\nbrown\nfox\n##es\n##s\n##ing\nun\n##aff\n##able\n"
    "a\nb\nc\n##a\n##b\n##c\n.\n,\n!\n?\n\xe4\xb8\xad\n\xe6\x96\x87\ncafe\ncaf\n##\xc3\xa9\n\xc3\xa9\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *path = fuzz_tmpfile((const uint8_t *)VOCAB, strlen(VOCAB), ".vocab.txt");
    char err[512];
    for (int i = 0; i < 2; i++) {
        tok[i] = tokenizer_load(path, i, err, sizeof err);
        if (!tok[i]) { fprintf(stderr, "vocab: %s\n", err); abort(); }
    }
    tokenizer_set_max_word_chars(tok[1], 8);
    unlink(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int i = 0; i < 2; i++) {
        IntVec ids = {0};
        size_t bad = (size_t)-1;
        int rc = tokenizer_encode(tok[i], (const char *)data, size, &ids, &bad);
        if (rc == 0) {
            for (size_t k = 0; k < ids.len; k++)
                if (ids.data[k] < 0 || ids.data[k] >= tokenizer_vocab_size(tok[i])) abort();
        } else if (bad >= size || ids.len != 0) {
            abort(); /* the offset must lie in the input; ids unchanged */
        }
        intvec_free(&ids);
    }
    return 0;
}
