/* bert_config.h — the shape of a model: the encoder (Hugging Face
 * BertConfig fields), the sentence embedding and the task heads. */
#ifndef MTBERT_BERT_CONFIG_H
#define MTBERT_BERT_CONFIG_H

#define MAX_TASKS 16
#define MAX_NAME 64
#define MAX_LABELS 256

typedef enum {
    TASK_SENTENCE_CLS = 0,
    TASK_TOKEN_CLS = 1,
    TASK_SIMILARITY = 2,
    TASK_CONTRASTIVE = 3,
    TASK_CROSS_ENCODER = 4,            /* joined pair -> classes */
    TASK_CROSS_ENCODER_REGRESSION = 5, /* joined pair -> one score */
} TaskType;

typedef struct {
    int vocab_size;              /* 30522 */
    int hidden_size;             /* C, 768 */
    int num_hidden_layers;       /* L, 12 */
    int num_attention_heads;     /* NH, 12 */
    int intermediate_size;       /* 3072 */
    int max_position_embeddings; /* 512 */
    int type_vocab_size;         /* 2 */
    int pad_token_id;            /* 0: its word-embedding row gets no gradient */
    float layer_norm_eps;        /* 1e-12 */
    float initializer_range;     /* 0.02 */
    int hidden_act;              /* GELU_ERF ("gelu") or GELU_TANH ("gelu_new") */
    float hidden_dropout_prob;   /* 0.1 */
    float attention_probs_dropout_prob; /* 0.1 */
    int family;                  /* FAMILY_BERT (0), DISTILBERT, ROBERTA, XLM_ROBERTA, ELECTRA
                                    (trainer/model/family.h): names, positions, token types */
    int embedding_size;          /* ELECTRA: embedding width E (projected to C); 0 = hidden_size */
    int sinusoidal_pos;          /* DistilBERT sinusoidal_pos_embds: fixed positions, not trained */
} BertConfig;

typedef struct {
    char name[MAX_NAME];
    TaskType type;
    int num_labels;              /* classes; 1 for similarity */
    float loss_weight;           /* total loss = sum_t weight_t * loss_t */
    float dropout;               /* classifier dropout before the head */
} TaskConfig;

typedef struct {
    BertConfig bert;
    int pooling;                 /* POOL_MEAN, POOL_CLS, POOL_MAX, POOL_POOLER */
    int embedding_dim;           /* 0: no projection; else Linear(C, embedding_dim) */
    int normalize;               /* L2-normalise the sentence embedding */
    int uncertainty_weighting;   /* learned task weights (Kendall et al. 2018):
                                    total = sum_t w_t exp(-s_t) L_t + s_t */
    int grad_checkpoint;         /* training: keep only each layer's output and recompute
                                    its other activations in backward (train.gradient_checkpointing) */
    int ntasks;
    TaskConfig tasks[MAX_TASKS];
} ModelConfig;

#endif
