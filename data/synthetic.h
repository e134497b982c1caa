/* synthetic.h — deterministic multi-task demo corpus: each sentence has a
 * topic (sports, politics, science, business, weather), a sentiment
 * (positive, negative, neutral) and named entities (PER, LOC, ORG, MISC,
 * IOB2 tags per word). Built from templates and word lists in synthetic.c;
 * no external files. */
#ifndef MTBERT_SYNTHETIC_H
#define MTBERT_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include "data/formats.h"

#define SYNTH_N_TOPICS 5
#define SYNTH_N_SENTIMENTS 3
extern const char *const synth_topics[SYNTH_N_TOPICS];
extern const char *const synth_sentiments[SYNTH_N_SENTIMENTS];
extern const char *const synth_ner_tags[9];

/* n examples into out (words, IOB2 tags, labels[0] = topic, labels[1] =
 * sentiment), a pure function of (seed, split): split 0 train, 1 dev. */
void synth_generate(uint64_t seed, int split, int64_t n, RawSet *out);

/* Writes the vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK], then every word
 * form of the generator lowercased, single characters and a few ## pieces. */
int synth_write_vocab(const char *path, char *err, size_t errlen);

/* Writes examples as CoNLL (`word TAG`, blank line between sentences: the
 * NER tags only) and as JSONL ({"tokens", "tags", "topic", "sentiment"}:
 * all three tasks, readable by `mtbert prepare --format jsonl`). */
int synth_write_conll(const char *path, const RawSet *s, char *err, size_t errlen);
int synth_write_jsonl(const char *path, const RawSet *s, char *err, size_t errlen);

/* The whole demo data set: DIR/vocab.txt, DIR/{train,dev}.{conll,jsonl},
 * and prepared shards DIR/train-*.h5, DIR/dev-*.h5 (tasks topic,
 * sentiment, ner). Returns 0, or -1 with a message. */
int synth_make_dataset(const char *dir, uint64_t seed, int64_t n_train, int64_t n_dev, int max_len, int train_shards,
                       int progress, char *err, size_t errlen);

#endif
