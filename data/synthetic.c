/* synthetic.c — the demo corpus (see synthetic.h). Sentences come from
 * templates whose slots draw from word lists: topic nouns and verbs (two or
 * more per sentence, in varying places), sentiment adjectives and adverbs
 * (absent for neutral), and entities of four types in varying positions.
 * Words for topic and sentiment come from pools of ~20-30 each, so no
 * single word decides a label; entity names are one to three words. */
#include "data/synthetic.h"
#include "util/errmsg.h"
#include "util/fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/prepare.h"
#include "data/tokenizer.h"

const char *const synth_topics[SYNTH_N_TOPICS] = {"sports", "politics", "science", "business", "weather"};
const char *const synth_sentiments[SYNTH_N_SENTIMENTS] = {"negative", "neutral", "positive"};
const char *const synth_ner_tags[9] = {"O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------- words */

static const char *const topic_nouns[SYNTH_N_TOPICS][24] = {
    {"match", "team", "coach", "season", "league", "goal", "stadium", "tournament", "striker", "referee", "final",
     "championship", "fans", "trophy", "midfielder", "penalty", "race", "medal", "athletes", "squad", "keeper",
     "derby", "playoffs", "transfer"},
    {"election", "parliament", "minister", "vote", "senate", "campaign", "policy", "reform", "coalition", "governor",
     "ballot", "treaty", "cabinet", "opposition", "legislation", "mayor", "president", "diplomats", "referendum",
     "party", "lawmakers", "budget", "summit", "constitution"},
    {"experiment", "laboratory", "researchers", "telescope", "molecule", "genome", "physics", "study", "vaccine",
     "satellite", "particle", "theory", "chemistry", "microscope", "fossil", "algorithm", "biology", "species",
     "protein", "galaxy", "scientists", "data", "reactor", "enzyme"},
    {"market", "shares", "investors", "profit", "revenue", "merger", "stock", "earnings", "company", "quarter",
     "dividend", "startup", "bank", "exports", "prices", "economy", "acquisition", "retailer", "inflation",
     "shareholders", "factory", "deal", "sales", "bonds"},
    {"storm", "rain", "forecast", "temperatures", "winds", "snow", "flooding", "drought", "heatwave", "clouds",
     "thunder", "hurricane", "frost", "humidity", "showers", "fog", "sunshine", "blizzard", "tornado", "rainfall",
     "meteorologists", "hail", "monsoon", "breeze"},
};
static const char *const topic_verbs[SYNTH_N_TOPICS][10] = {
    {"played", "scored", "coached", "defeated", "trained", "tackled", "sprinted", "qualified", "equalised", "raced"},
    {"voted", "campaigned", "legislated", "negotiated", "vetoed", "governed", "debated", "elected", "lobbied",
     "ratified"},
    {"measured", "analysed", "discovered", "observed", "tested", "sequenced", "simulated", "published",
     "calibrated", "synthesised"},
    {"invested", "traded", "acquired", "merged", "sold", "bought", "financed", "audited", "hired", "exported"},
    {"rained", "snowed", "forecast", "flooded", "froze", "cooled", "warmed", "drizzled", "poured", "thawed"},
};
/* sentiment 0 negative, 1 neutral (no sentiment words), 2 positive */
static const char *const sent_adjs[3][22] = {
    {"terrible", "awful", "disappointing", "dreadful", "poor", "disastrous", "horrible", "miserable", "bleak",
     "painful", "shameful", "dismal", "worrying", "weak", "frustrating", "chaotic", "grim", "embarrassing",
     "unpleasant", "gloomy", "troubling", "costly"},
    {"new", "recent", "annual", "local", "official", "large", "small", "long", "early", "late", "regional", "second",
     "first", "national", "usual", "weekly", "current", "public", "formal", "main", "planned", "expected"},
    {"excellent", "wonderful", "impressive", "brilliant", "superb", "great", "remarkable", "fantastic", "splendid",
     "outstanding", "encouraging", "delightful", "strong", "promising", "successful", "inspiring", "pleasant",
     "admirable", "terrific", "marvelous", "cheerful", "stellar"},
};
static const char *const sent_advs[3][12] = {
    {"badly", "poorly", "sadly", "terribly", "miserably", "awkwardly", "disappointingly", "painfully", "weakly",
     "unfortunately", "clumsily", "dismally"},
    {"today", "again", "officially", "recently", "quietly", "formally", "publicly", "initially", "later", "mostly",
     "briefly", "routinely"},
    {"brilliantly", "happily", "wonderfully", "superbly", "impressively", "successfully", "gladly", "admirably",
     "splendidly", "proudly", "fortunately", "beautifully"},
};
static const char *const first_names[] = {"Anna", "Marco", "Elena", "David", "Sofia", "Lukas", "Maria", "Omar",
                                          "Julia", "Pedro", "Nina", "Thomas", "Aisha", "Victor", "Clara", "Ivan",
                                          "Grace", "Hugo", "Leila", "Samuel", "Mei", "Oscar", "Rosa", "Felix",
                                          "Yuki", "Daniel", "Ingrid", "Pablo", "Hanna", "Tariq"};
static const char *const last_names[] = {"Novak", "Rossi", "Schmidt", "Okafor", "Tanaka", "Larsen", "Moreau",
                                         "Kowalski", "Haddad", "Silva", "Petrov", "Fischer", "Nakamura", "Oliveira",
                                         "Lindqvist", "Mensah", "Duarte", "Brennan", "Kaplan", "Varga", "Castillo",
                                         "Weber", "Andersen", "Popescu", "Ibrahim", "Costa", "Meyer", "Horvat",
                                         "Jansen", "Walsh"};
static const char *const locations[] = {"Paris", "London", "Berlin", "Madrid", "Tokyo", "Cairo", "Lagos", "Lima",
                                        "Oslo", "Vienna", "Toronto", "Sydney", "Nairobi", "Mumbai", "Seoul",
                                        "New York", "Buenos Aires", "Cape Town", "Hong Kong", "Rio de Janeiro",
                                        "Kenya", "Brazil", "Norway", "Canada", "Japan", "Portugal", "Chile",
                                        "Egypt", "San Diego", "Lake Geneva"};
static const char *const orgs[] = {"Acme Corp", "Global Bank", "Northwind Traders", "Red Star United",
                                   "Blue Harbor Rovers", "the National Science Foundation", "Orion Labs",
                                   "Union Party", "Green Alliance", "Atlas Motors", "Helix Pharma", "Sterling Group",
                                   "the Weather Bureau", "Polar Institute", "City Council", "Summit Energy",
                                   "Vertex Systems", "Falcon Airlines", "Metro Herald", "Kingsway Athletic",
                                   "Silverline Holdings", "Nova Research Centre", "People Front", "Coastal Times"};
static const char *const miscs[] = {"French", "German", "Brazilian", "Japanese", "Kenyan", "Canadian", "Olympic",
                                    "European", "Asian", "African", "Nordic", "Spanish", "Italian", "Chilean",
                                    "Egyptian", "World Cup", "Nobel", "Christmas", "Ramadan", "Champions League"};
static const char *const speech[] = {"said", "reported", "noted", "claimed", "announced", "argued", "stated",
                                     "confirmed", "suggested", "explained", "added", "insisted"};
static const char *const times[] = {"on Monday", "on Tuesday", "on Friday", "last week", "this year", "yesterday",
                                    "in March", "in October", "this morning", "last night", "over the weekend",
                                    "earlier this month"};
static const char *const openers[] = {"Meanwhile ,", "However ,", "Overall ,", "In short ,", "Once again ,",
                                      "As expected ,", "By contrast ,", "For now ,"};

/* Templates: lowercase words are literal; slot codes are
 *   P person, L location, O organisation, M misc, N topic noun, V topic verb,
 *   A sentiment adjective, D sentiment adverb, S speech verb, T time phrase.
 * Every template has two or more N/V slots and at least one A or D. */
static const char *const templates[] = {
    "P V the A N in L T .",
    "O S that the N and the N were A , according to P .",
    "in L , P D V the N .",
    "the M N V A results for O .",
    "T , P of O V the A N .",
    "P S the N in L looked A and the N was A .",
    "according to O , the A N V near L .",
    "P and P V the N T , and the N went D .",
    "the N of O in L was A , P S after the N .",
    "P , a M N expert , S the N was A .",
    "fans in L S that O D V the N .",
    "O V a A N with P in L T .",
    "a A N : O V the N after P S so .",
    "at the M N in L , P V D .",
    "the A N from O left P with a A N .",
    "P S the N would be A for the N in L and O .",
    "T the N in L was D A , O S after they V .",
    "critics S the N by O was A while P V .",
};

/* ------------------------------------------------------------------ rng */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int pick(uint64_t *s, int n) { return (int)(splitmix(s) % (uint64_t)n); }

/* -------------------------------------------------------------- sentence */

typedef struct {
    char **w, **t;
    int n, cap;
} WordList;

static void wl_push(WordList *l, const char *w, const char *tag) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->w = realloc(l->w, (size_t)l->cap * sizeof(char *));
        l->t = realloc(l->t, (size_t)l->cap * sizeof(char *));
        if (!l->w || !l->t) abort();
    }
    l->w[l->n] = strdup(w);
    l->t[l->n] = strdup(tag);
    l->n++;
}

/* Pushes a multi-word phrase; type NULL = O. A leading "the" of an
 * organisation stays outside the entity, as in CoNLL. */
static void push_phrase(WordList *l, const char *phrase, const char *type) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", phrase);
    int first = 1;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (!type || (first && !strcmp(tok, "the"))) {
            wl_push(l, tok, "O");
            continue;
        }
        char tag[32];
        snprintf(tag, sizeof tag, "%c-%s", first ? 'B' : 'I', type);
        wl_push(l, tok, tag);
        first = 0;
    }
}

static void gen_sentence(uint64_t *rs, int topic, int sent, WordList *l) {
    const char *tpl = templates[pick(rs, COUNT(templates))];
    if (pick(rs, 4) == 0) push_phrase(l, openers[pick(rs, COUNT(openers))], NULL);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", tpl);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strlen(tok) != 1 || !isupper((unsigned char)tok[0])) {
            push_phrase(l, tok, NULL);
            continue;
        }
        switch (tok[0]) {
        case 'P': {
            char name[64];
            int form = pick(rs, 3);
            if (form == 0) snprintf(name, sizeof name, "%s", last_names[pick(rs, COUNT(last_names))]);
            else snprintf(name, sizeof name, "%s %s", first_names[pick(rs, COUNT(first_names))],
                          last_names[pick(rs, COUNT(last_names))]);
            push_phrase(l, name, "PER");
            break;
        }
        case 'L': push_phrase(l, locations[pick(rs, COUNT(locations))], "LOC"); break;
        case 'O': push_phrase(l, orgs[pick(rs, COUNT(orgs))], "ORG"); break;
        case 'M': push_phrase(l, miscs[pick(rs, COUNT(miscs))], "MISC"); break;
        case 'N': push_phrase(l, topic_nouns[topic][pick(rs, 24)], NULL); break;
        case 'V': push_phrase(l, topic_verbs[topic][pick(rs, 10)], NULL); break;
        case 'A': push_phrase(l, sent_adjs[sent][pick(rs, 22)], NULL); break;
        case 'D': push_phrase(l, sent_advs[sent][pick(rs, 12)], NULL); break;
        case 'S': push_phrase(l, speech[pick(rs, COUNT(speech))], NULL); break;
        case 'T': push_phrase(l, times[pick(rs, COUNT(times))], NULL); break;
        default: push_phrase(l, tok, NULL);
        }
    }
    /* sentence case for the first word unless it is part of an entity */
    if (l->n && !strcmp(l->t[0], "O")) l->w[0][0] = (char)toupper((unsigned char)l->w[0][0]);
}

void synth_generate(uint64_t seed, int split, int64_t n, RawSet *out) {
    for (int64_t i = 0; i < n; i++) {
        /* each example from its own stream: (seed, split, i) */
        uint64_t rs = seed * 0x9E3779B97F4A7C15ull + (uint64_t)split * 0xD1B54A32D192ED03ull + (uint64_t)i;
        splitmix(&rs);
        int topic = pick(&rs, SYNTH_N_TOPICS), sent = pick(&rs, SYNTH_N_SENTIMENTS);
        WordList l = {0};
        gen_sentence(&rs, topic, sent, &l);
        RawExample *e = rawset_add(out);
        e->line = (long)i + 1;
        e->n_words = l.n;
        e->words = l.w;
        e->tags = l.t;
        e->n_labels = 2;
        e->labels = malloc(2 * sizeof(char *));
        if (!e->labels) abort();
        e->labels[0] = strdup(synth_topics[topic]);
        e->labels[1] = strdup(synth_sentiments[sent]);
    }
}

/* ----------------------------------------------------------------- vocab */


typedef struct {
    char **s;
    int n, cap;
} StrSet;

static void set_add_words(StrSet *set, const char *phrase) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", phrase);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        for (char *c = tok; *c; c++) *c = (char)tolower((unsigned char)*c);
        if (set->n == set->cap) {
            set->cap = set->cap ? 2 * set->cap : 256;
            set->s = realloc(set->s, (size_t)set->cap * sizeof(char *));
            if (!set->s) abort();
        }
        set->s[set->n++] = strdup(tok);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Writes go to a temporary name beside PATH (fs_temp_path), which
 * close_rename makes durable and renames over PATH (fs_commit_rename): no
 * half-written file under PATH, and no temporary left after a failure. */
static FILE *open_tmp(const char *path, char *tmp, size_t n, char *err, size_t errlen) {
    if (fs_temp_path(path, tmp, n, err, errlen)) return NULL;
    FILE *f = fopen(tmp, "w");
    if (!f) seterr(err, errlen, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    return f;
}

static int close_rename(FILE *f, const char *tmp, const char *path, char *err, size_t errlen) {
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        seterr(err, errlen, "%s: writing %s failed: %s", path, tmp, strerror(e));
        fs_temp_discard(tmp);
        return -1;
    }
    return fs_commit_rename(tmp, path, err, errlen);
}

int synth_write_vocab(const char *path, char *err, size_t errlen) {
    StrSet set = {0};
#define ADD_ALL(arr) for (int i_ = 0; i_ < COUNT(arr); i_++) set_add_words(&set, (arr)[i_])
    for (int t = 0; t < SYNTH_N_TOPICS; t++) {
        ADD_ALL(topic_nouns[t]);
        ADD_ALL(topic_verbs[t]);
    }
    for (int s = 0; s < 3; s++) {
        ADD_ALL(sent_adjs[s]);
        ADD_ALL(sent_advs[s]);
    }
    ADD_ALL(first_names);
    ADD_ALL(last_names);
    ADD_ALL(locations);
    ADD_ALL(orgs);
    ADD_ALL(miscs);
    ADD_ALL(speech);
    ADD_ALL(times);
    ADD_ALL(openers);
    for (int i = 0; i < COUNT(templates); i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", templates[i]);
        char *save = NULL;
        for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
            if (strlen(tok) != 1 || !isupper((unsigned char)tok[0])) set_add_words(&set, tok);
    }
#undef ADD_ALL
    /* single characters and a few continuation pieces keep WordPiece total */
    const char *singles = "abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'\"-()&/%$";
    for (const char *c = singles; *c; c++) {
        char s[2] = {*c, 0};
        set_add_words(&set, s);
    }
    qsort(set.s, (size_t)set.n, sizeof(char *), cmp_str);
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err, errlen);
    if (!f) {
        for (int i = 0; i < set.n; i++) free(set.s[i]);
        free(set.s);
        return -1;
    }
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f);
    for (int i = 0; i < set.n; i++) {
        if (i && !strcmp(set.s[i], set.s[i - 1])) continue;
        fprintf(f, "%s\n", set.s[i]);
    }
    for (const char *c = "abcdefghijklmnopqrstuvwxyz0123456789"; *c; c++) fprintf(f, "##%c\n", *c);
    static const char *const pieces[] = {"##es", "##ed", "##ing", "##er", "##ly", "##ion", "##al"};
    for (int i = 0; i < COUNT(pieces); i++) fprintf(f, "%s\n", pieces[i]);
    for (int i = 0; i < set.n; i++) free(set.s[i]);
    free(set.s);
    return close_rename(f, tmp, path, err, errlen);
}

/* ------------------------------------------------------------ raw files */


int synth_write_conll(const char *path, const RawSet *s, char *err, size_t errlen) {
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err, errlen);
    if (!f) return -1;
    for (size_t i = 0; i < s->n; i++) {
        const RawExample *e = &s->ex[i];
        if (i) fputc('\n', f);
        for (int w = 0; w < e->n_words; w++) fprintf(f, "%s %s\n", e->words[w], e->tags[w]);
    }
    return close_rename(f, tmp, path, err, errlen);
}

int synth_write_jsonl(const char *path, const RawSet *s, char *err, size_t errlen) {
    char tmp[4096];
    FILE *f = open_tmp(path, tmp, sizeof tmp, err, errlen);
    if (!f) return -1;
    for (size_t i = 0; i < s->n; i++) {
        const RawExample *e = &s->ex[i];
        json_t *o = json_object(), *toks = json_array(), *tags = json_array();
        for (int w = 0; w < e->n_words; w++) {
            json_array_append_new(toks, json_string(e->words[w]));
            json_array_append_new(tags, json_string(e->tags[w]));
        }
        json_object_set_new(o, "tokens", toks);
        json_object_set_new(o, "tags", tags);
        json_object_set_new(o, "topic", json_string(e->labels[0]));
        json_object_set_new(o, "sentiment", json_string(e->labels[1]));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!line) {
            fclose(f);
            fs_temp_discard(tmp);
            seterr(err, errlen, "%s: JSON encoding failed", path);
            return -1;
        }
        fprintf(f, "%s\n", line);
        free(line);
    }
    return close_rename(f, tmp, path, err, errlen);
}

/* --------------------------------------------------------------- dataset */

int synth_make_dataset(const char *dir, uint64_t seed, int64_t n_train, int64_t n_dev, int max_len, int train_shards,
                       int progress, char *err, size_t errlen) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        seterr(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    if (synth_write_vocab(path, err, errlen)) return -1;
    Tokenizer *tok = tokenizer_load(path, 1, err, errlen);
    if (!tok) return -1;
    PrepareOptions po;
    prepare_options_default(&po);
    po.max_len = max_len;
    po.n_tasks = 3;
    snprintf(po.tasks[0].name, SHARD_NAME_LEN, "topic");
    po.tasks[0].type = LABELS_CLASS;
    po.tasks[0].labels = (char **)synth_topics;
    po.tasks[0].num_labels = SYNTH_N_TOPICS;
    snprintf(po.tasks[1].name, SHARD_NAME_LEN, "sentiment");
    po.tasks[1].type = LABELS_CLASS;
    po.tasks[1].labels = (char **)synth_sentiments;
    po.tasks[1].num_labels = SYNTH_N_SENTIMENTS;
    snprintf(po.tasks[2].name, SHARD_NAME_LEN, "ner");
    po.tasks[2].type = LABELS_TOKEN;
    po.tasks[2].labels = (char **)synth_ner_tags;
    po.tasks[2].num_labels = 9;
    int rc = 0;
    for (int split = 0; split < 2 && !rc; split++) {
        const char *name = split ? "dev" : "train";
        int64_t n = split ? n_dev : n_train;
        if (n <= 0) continue;
        RawSet raw;
        rawset_init(&raw);
        synth_generate(seed, split, n, &raw);
        snprintf(path, sizeof path, "%s/%s.conll", dir, name);
        rc = synth_write_conll(path, &raw, err, errlen);
        if (!rc) {
            snprintf(path, sizeof path, "%s/%s.jsonl", dir, name);
            rc = synth_write_jsonl(path, &raw, err, errlen);
        }
        for (size_t i = 0; i < raw.n; i++) raw.ex[i].src = path;
        ShardData d;
        PrepareStats st;
        if (!rc) rc = prepare_encode(&po, tok, &raw, &d, &st, err, errlen);
        if (!rc) {
            snprintf(d.info.source, sizeof d.info.source, "synthetic seed %llu split %s", (unsigned long long)seed, name);
            int shards = split ? 1 : (train_shards < (int)n ? train_shards : (int)n);
            rc = prepare_write_shards(&d, dir, name, shards, progress, err, errlen);
            if (!rc && progress)
                printf("%s: %lld examples, %lld tokens, %lld truncated to max_len %d\n", name, (long long)st.examples,
                       (long long)st.tokens, (long long)st.truncated, max_len);
            shard_data_free(&d);
        }
        rawset_free(&raw);
    }
    tokenizer_free(tok);
    return rc;
}
