/* fuzz_formats — the raw readers of `mtbert prepare` (CoNLL, TSV lines,
 * CSV, JSONL, STS pairs, triplets with hard negatives) via format_read_buffer. The first input byte picks
 * the format and options; the rest is the file. */
#include "fuzz_common.h"
#include "data/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16) return 0;
    uint8_t sel = data[0];
    static const FormatKind kinds[5] = {FMT_CONLL, FMT_LINES, FMT_CSV, FMT_JSONL, FMT_PAIRS};
    FormatOptions o;
    format_options_default(&o, kinds[sel % 5]);
    o.skip_bad = (sel >> 3) & 1;
    o.latin1 = (sel >> 4) & 1;
    o.iob1_to_iob2 = (sel >> 5) & 1;
    o.label_part = (LabelPart)((sel >> 6) % 3);
    if (o.kind == FMT_LINES) o.label_first = (sel >> 7) & 1;
    if (o.kind == FMT_CSV) o.text_b_col = (sel & 0x80) ? "text_b" : NULL;
    /* hard negatives: pairs' high bit reads triplets, jsonl's a negatives list */
    if (o.kind == FMT_PAIRS && (sel & 0x80)) format_options_default(&o, FMT_TRIPLETS), o.skip_bad = (sel >> 3) & 1;
    if (o.kind == FMT_JSONL && (sel & 0x80)) o.text_b_col = "pos", o.negatives_key = "negatives";
    RawSet s;
    rawset_init(&s);
    char err[1024];
    (void)format_read_buffer(&o, "fuzz", (const char *)data + 1, size - 1, &s, err, sizeof err);
    for (size_t i = 0; i < s.n; i++) {
        const RawExample *e = &s.ex[i];
        for (int w = 0; w < e->n_words; w++)
            if (!e->words[w] || (e->tags && !e->tags[w])) abort();
        for (int l = 0; l < e->n_labels; l++)
            if (!e->labels[l]) abort();
        for (int j = 0; j < e->n_neg; j++)
            if (!e->negs[j] || !e->negs[j][0] || !e->text_b) abort(); /* a negative is a non-empty sentence of a pair */
    }
    rawset_free(&s);
    /* the file path reader on the same bytes, through a temporary file */
    if ((sel & 7) == 7) {
        const char *path = fuzz_tmpfile(data + 1, size - 1, ".txt");
        rawset_init(&s);
        (void)format_read(&o, path, &s, err, sizeof err);
        rawset_free(&s);
        unlink(path);
    }
    return 0;
}
