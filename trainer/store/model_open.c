/* model_open.c — model_open (model_open.h). */
#include "trainer/store/model_open.h"

#include <stdio.h>
#include <string.h>

#include "trainer/model/family.h"

int model_open(OpenModel *om, const char *path, const OpenOptions *o, int *status, char *err, size_t errlen) {
    memset(om, 0, sizeof *om);
    *status = 2;
    BackendChoice bc = BACKEND_AUTO;
    PrecisionChoice pc = PRECISION_FP32;
    if (o->backend && ops_parse_backend(o->backend, &bc)) {
        snprintf(err, errlen, "--backend: '%s' is not auto, cpu or cuda", o->backend);
        return -1;
    }
    if (o->precision && ops_parse_precision(o->precision, &pc)) {
        snprintf(err, errlen, "--precision: '%s' is not fp32 or bf16", o->precision);
        return -1;
    }
    ModelDir *d = &om->dir;
    if (model_dir_read(d, path, err, errlen)) return -1;
    if (o->need_heads && d->mc.ntasks == 0) {
        snprintf(err, errlen, "%s has no task heads (mtbert_tasks.json); use mtbert encode for embeddings", d->dir);
        goto fail;
    }
    if (o->pooling >= 0) d->mc.pooling = o->pooling;
    if (o->normalize >= 0) d->mc.normalize = o->normalize;
    om->max_len = o->max_len > 0 ? o->max_len : d->max_seq_length;
    /* RoBERTa/XLM-R position rows start at pad_token_id + 1 */
    int max_tokens = family_max_tokens(d->mc.bert.family, d->mc.bert.pad_token_id, d->mc.bert.max_position_embeddings);
    if (om->max_len < 2 || om->max_len > max_tokens) {
        snprintf(err, errlen, "--max-len %d: must be in [2, %d] for %s (the positions the model holds)", om->max_len,
                 max_tokens, d->dir);
        goto fail;
    }
    if (o->no_tokenizer && d->tokenizer_json) { /* export copies it: a broken one is bad input now, not later */
        Tok *t = tok_open(d->vocab, 0, err, errlen);
        if (!t) goto fail;
        tok_free(t);
    }
    if (!o->no_tokenizer) {
        om->tok = tok_open(d->vocab, d->do_lower_case, err, errlen);
        if (!om->tok) goto fail;
        if (!d->tokenizer_json && (tok_vocab_size(om->tok) > d->mc.bert.vocab_size || tok_cls_id(om->tok) < 0 ||
                                   tok_sep_id(om->tok) < 0)) {
            snprintf(err, errlen, "%s: %d entries (model vocab_size %d) or no [CLS]/[SEP]", d->vocab,
                     tok_vocab_size(om->tok), d->mc.bert.vocab_size);
            goto fail;
        }
        if (d->tokenizer_json && tok_vocab_size(om->tok) > d->mc.bert.vocab_size) {
            snprintf(err, errlen, "%s: %d ids, more than the model's vocab_size %d", d->vocab,
                     tok_vocab_size(om->tok), d->mc.bert.vocab_size);
            goto fail;
        }
        int ns = tok_num_special(om->tok, 0);
        if (d->tokenizer_json && om->max_len <= ns) {
            snprintf(err, errlen, "--max-len %d: the tokenizer %s adds %d special tokens; at least %d are needed",
                     om->max_len, d->vocab, ns, ns + 1);
            goto fail;
        }
    }
    char why[512];
    om->ops = ops_select(bc, pc, why, sizeof why);
    if (!om->ops) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (o->threads > 0 && om->ops->set_threads) om->ops->set_threads(o->threads);
    *status = 1;
    int B = o->max_batch > 0 ? o->max_batch : 1;
    /* a budget below one full-length row still takes one row of max_len */
    size_t N = o->max_tokens > 0 ? (size_t)o->max_tokens : 0;
    if (N && N < (size_t)om->max_len) N = (size_t)om->max_len;
    if (model_create_tokens(&om->model, &d->mc, om->ops, B, om->max_len, N, 0, MODEL_INIT_NONE, err, errlen))
        goto fail;
    om->model.training = 0;
    *status = 2;
    char report[8192];
    if (model_dir_load(&om->model, d, report, sizeof report, err, errlen)) goto fail_model;
    if (model_check_finite(&om->model, d, err, errlen)) goto fail_model;
    if (o->need_heads && strstr(report, "new tensor heads.")) {
        snprintf(err, errlen, "%s: some task heads are missing from mtbert_heads.safetensors:\n%s", d->dir, report);
        goto fail_model;
    }
    /* loaded, and read-only from here on: the backend may keep derived forms
     * (the CPU's packed weight matrices) */
    if (om->ops->params_constant)
        om->ops->params_constant(om->model.params, sizeof(float) * om->model.table.total);
    *status = 0;
    return 0;
fail_model:
    model_free(&om->model);
fail:
    tok_free(om->tok);
    model_dir_free(d);
    memset(om, 0, sizeof *om);
    return -1;
}

void model_close(OpenModel *om) {
    if (om->ops) model_free(&om->model);
    tok_free(om->tok);
    model_dir_free(&om->dir);
    memset(om, 0, sizeof *om);
}
