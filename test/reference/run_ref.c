/* run_ref.c — reference oracle for tests only: a standalone C port of Andrej Karpathy's llama2.c run.c (MIT licence,
 * https://github.com/karpathy/llama2.c), reduced to greedy (argmax) decoding in float32. It reads a legacy version-0
 * llama2.c checkpoint and a llama2.c tokenizer.bin and prints exactly the tokens run.c would print.
 *
 * It is deliberately written from the reference format, not from lingualinked's sources, so that it is an independent
 * oracle. Not part of any shipped binary. Single-threaded; global state is limited to what main() owns.
 *
 * Build:  gcc -O2 -o build/run_ref test/reference/run_ref.c -lm
 * Usage:  run_ref CKPT TOKENIZER [-n STEPS] [-i PROMPT] [--encode-only]
 *   stdout: one token id per line — every token run.c would decode and print (forced prompt tokens after BOS, then
 *           the generated ones), stopping early when the model produces BOS (= 1), as run.c does.
 *   stderr: the decoded text (run.c's decode(); unprintable single bytes skipped like safe_printf).
 *   --encode-only: print the ids of encode(prompt, bos=1, eos=0) one per line and exit (the model is not read).
 *
 * The file is valid C and C++: with RUN_REF_NO_MAIN defined it can be #included by a C++ test to call encode().
 * Inputs are bounds-checked (exit with a message) where run.c would read out of bounds; on well-formed inputs the
 * behaviour is run.c's.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------------------------------------- */
/* Transformer */

typedef struct {
  int dim;
  int hidden_dim;
  int n_layers;
  int n_heads;
  int n_kv_heads;
  int vocab_size;
  int seq_len;
} Config;

typedef struct {
  float* token_embedding_table; /* (vocab_size, dim) */
  float* rms_att_weight;        /* (layer, dim) */
  float* rms_ffn_weight;        /* (layer, dim) */
  float* wq;                    /* (layer, dim, n_heads * head_size) */
  float* wk;                    /* (layer, dim, n_kv_heads * head_size) */
  float* wv;                    /* (layer, dim, n_kv_heads * head_size) */
  float* wo;                    /* (layer, n_heads * head_size, dim) */
  float* w1;                    /* (layer, hidden_dim, dim) */
  float* w2;                    /* (layer, dim, hidden_dim) */
  float* w3;                    /* (layer, hidden_dim, dim) */
  float* rms_final_weight;      /* (dim,) */
  float* wcls;
} TransformerWeights;

typedef struct {
  float *x, *xb, *xb2, *hb, *hb2, *q, *k, *v, *att, *logits;
  float* key_cache;   /* (layer, seq_len, kv_dim) */
  float* value_cache; /* (layer, seq_len, kv_dim) */
} RunState;

typedef struct {
  Config config;
  TransformerWeights weights;
  RunState state;
  float* data; /* the whole checkpoint file, read into memory */
  long file_size;
} Transformer;

static void die(const char* msg) {
  fprintf(stderr, "run_ref: %s\n", msg);
  exit(EXIT_FAILURE);
}

static void* xcalloc(size_t n, size_t size) {
  void* p = calloc(n, size);
  if (!p) die("out of memory");
  return p;
}

static void malloc_run_state(RunState* s, Config* p) {
  int kv_dim = (p->dim * p->n_kv_heads) / p->n_heads;
  s->x = (float*)xcalloc(p->dim, sizeof(float));
  s->xb = (float*)xcalloc(p->dim, sizeof(float));
  s->xb2 = (float*)xcalloc(p->dim, sizeof(float));
  s->hb = (float*)xcalloc(p->hidden_dim, sizeof(float));
  s->hb2 = (float*)xcalloc(p->hidden_dim, sizeof(float));
  s->q = (float*)xcalloc(p->dim, sizeof(float));
  s->key_cache = (float*)xcalloc((size_t)p->n_layers * p->seq_len * kv_dim, sizeof(float));
  s->value_cache = (float*)xcalloc((size_t)p->n_layers * p->seq_len * kv_dim, sizeof(float));
  s->att = (float*)xcalloc((size_t)p->n_heads * p->seq_len, sizeof(float));
  s->logits = (float*)xcalloc(p->vocab_size, sizeof(float));
}

static void free_run_state(RunState* s) {
  free(s->x); free(s->xb); free(s->xb2); free(s->hb); free(s->hb2); free(s->q);
  free(s->att); free(s->logits); free(s->key_cache); free(s->value_cache);
}

/* Number of floats the weights need (legacy RoPE tables included); the classifier only if not shared. */
static size_t weights_floats(const Config* p, int shared_weights) {
  size_t head_size = (size_t)(p->dim / p->n_heads);
  size_t L = (size_t)p->n_layers, dim = (size_t)p->dim, hid = (size_t)p->hidden_dim, V = (size_t)p->vocab_size;
  size_t n = V * dim + L * dim + L * dim * (p->n_heads * head_size) + 2 * L * dim * (p->n_kv_heads * head_size) +
             L * (p->n_heads * head_size) * dim + L * dim + 3 * L * dim * hid + dim + (size_t)p->seq_len * head_size;
  if (!shared_weights) n += V * dim;
  return n;
}

static void memory_map_weights(TransformerWeights* w, Config* p, float* ptr, int shared_weights) {
  int head_size = p->dim / p->n_heads;
  unsigned long long n_layers = p->n_layers;
  w->token_embedding_table = ptr; ptr += (size_t)p->vocab_size * p->dim;
  w->rms_att_weight = ptr;        ptr += n_layers * p->dim;
  w->wq = ptr;                    ptr += n_layers * p->dim * (p->n_heads * head_size);
  w->wk = ptr;                    ptr += n_layers * p->dim * (p->n_kv_heads * head_size);
  w->wv = ptr;                    ptr += n_layers * p->dim * (p->n_kv_heads * head_size);
  w->wo = ptr;                    ptr += n_layers * (p->n_heads * head_size) * p->dim;
  w->rms_ffn_weight = ptr;        ptr += n_layers * p->dim;
  w->w1 = ptr;                    ptr += n_layers * p->dim * p->hidden_dim;
  w->w2 = ptr;                    ptr += n_layers * p->hidden_dim * p->dim;
  w->w3 = ptr;                    ptr += n_layers * p->dim * p->hidden_dim;
  w->rms_final_weight = ptr;      ptr += p->dim;
  ptr += p->seq_len * head_size / 2; /* skip what used to be freq_cis_real (for RoPE) */
  ptr += p->seq_len * head_size / 2; /* skip what used to be freq_cis_imag (for RoPE) */
  w->wcls = shared_weights ? w->token_embedding_table : ptr;
}

static void build_transformer(Transformer* t, const char* checkpoint_path) {
  FILE* file = fopen(checkpoint_path, "rb");
  if (!file) die("couldn't open checkpoint");
  if (fread(&t->config, sizeof(Config), 1, file) != 1) die("checkpoint: truncated header");
  Config* p = &t->config;
  int shared_weights = p->vocab_size > 0 ? 1 : 0;
  p->vocab_size = abs(p->vocab_size);
  if (p->dim <= 0 || p->hidden_dim <= 0 || p->n_layers <= 0 || p->n_heads <= 0 || p->n_kv_heads <= 0 ||
      p->vocab_size <= 0 || p->seq_len <= 0 || p->dim % p->n_heads != 0 || p->n_heads % p->n_kv_heads != 0 ||
      (p->dim / p->n_heads) % 2 != 0 || p->dim > 65536 || p->hidden_dim > 1 << 20 || p->n_layers > 4096 ||
      p->vocab_size > 1 << 20 || p->seq_len > 1 << 20)
    die("checkpoint: implausible config header");
  fseek(file, 0, SEEK_END);
  t->file_size = ftell(file);
  fseek(file, sizeof(Config), SEEK_SET);
  size_t need = weights_floats(p, shared_weights);
  if ((size_t)(t->file_size - (long)sizeof(Config)) / sizeof(float) < need) die("checkpoint: file too short");
  t->data = (float*)xcalloc(need, sizeof(float));
  if (fread(t->data, sizeof(float), need, file) != need) die("checkpoint: read failed");
  fclose(file);
  memory_map_weights(&t->weights, p, t->data, shared_weights);
  malloc_run_state(&t->state, p);
}

static void free_transformer(Transformer* t) {
  free(t->data);
  free_run_state(&t->state);
}

/* ----------------------------------------------------------------------------------------------------------------- */
/* The building blocks of the network */

static void rmsnorm(float* o, float* x, float* weight, int size) {
  float ss = 0.0f;
  for (int j = 0; j < size; j++) ss += x[j] * x[j];
  ss /= size;
  ss += 1e-5f;
  ss = 1.0f / sqrtf(ss);
  for (int j = 0; j < size; j++) o[j] = weight[j] * (ss * x[j]);
}

static void softmax(float* x, int size) {
  float max_val = x[0];
  for (int i = 1; i < size; i++)
    if (x[i] > max_val) max_val = x[i];
  float sum = 0.0f;
  for (int i = 0; i < size; i++) {
    x[i] = expf(x[i] - max_val);
    sum += x[i];
  }
  for (int i = 0; i < size; i++) x[i] /= sum;
}

/* W (d,n) @ x (n,) -> xout (d,) */
static void matmul(float* xout, float* x, float* w, int n, int d) {
  for (int i = 0; i < d; i++) {
    float val = 0.0f;
    for (int j = 0; j < n; j++) val += w[(size_t)i * n + j] * x[j];
    xout[i] = val;
  }
}

static float* forward(Transformer* transformer, int token, int pos) {
  Config* p = &transformer->config;
  TransformerWeights* w = &transformer->weights;
  RunState* s = &transformer->state;
  float* x = s->x;
  int dim = p->dim;
  int kv_dim = (p->dim * p->n_kv_heads) / p->n_heads;
  int kv_mul = p->n_heads / p->n_kv_heads; /* integer multiplier of the kv sharing in multiquery */
  int hidden_dim = p->hidden_dim;
  int head_size = dim / p->n_heads;

  float* content_row = w->token_embedding_table + (size_t)token * dim;
  memcpy(x, content_row, dim * sizeof(*x));

  for (unsigned long long l = 0; l < (unsigned long long)p->n_layers; l++) {
    rmsnorm(s->xb, x, w->rms_att_weight + l * dim, dim);

    size_t loff = l * p->seq_len * kv_dim; /* kv cache layer offset */
    s->k = s->key_cache + loff + (size_t)pos * kv_dim;
    s->v = s->value_cache + loff + (size_t)pos * kv_dim;

    matmul(s->q, s->xb, w->wq + l * dim * dim, dim, dim);
    matmul(s->k, s->xb, w->wk + l * dim * kv_dim, dim, kv_dim);
    matmul(s->v, s->xb, w->wv + l * dim * kv_dim, dim, kv_dim);

    /* RoPE relative positional encoding: complex-valued rotate q and k in each head */
    for (int i = 0; i < dim; i += 2) {
      int head_dim = i % head_size;
      float freq = 1.0f / powf(10000.0f, head_dim / (float)head_size);
      float val = pos * freq;
      float fcr = cosf(val);
      float fci = sinf(val);
      int rotn = i < kv_dim ? 2 : 1; /* how many vectors? 2 = q & k, 1 = q only */
      for (int v = 0; v < rotn; v++) {
        float* vec = v == 0 ? s->q : s->k;
        float v0 = vec[i];
        float v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
      }
    }

    /* multihead attention */
    for (int h = 0; h < p->n_heads; h++) {
      float* q = s->q + h * head_size;
      float* att = s->att + (size_t)h * p->seq_len;
      for (int t = 0; t <= pos; t++) {
        float* k = s->key_cache + loff + (size_t)t * kv_dim + (h / kv_mul) * head_size;
        float score = 0.0f;
        for (int i = 0; i < head_size; i++) score += q[i] * k[i];
        score /= sqrtf(head_size);
        att[t] = score;
      }
      softmax(att, pos + 1);
      float* xb = s->xb + h * head_size;
      memset(xb, 0, head_size * sizeof(float));
      for (int t = 0; t <= pos; t++) {
        float* v = s->value_cache + loff + (size_t)t * kv_dim + (h / kv_mul) * head_size;
        float a = att[t];
        for (int i = 0; i < head_size; i++) xb[i] += a * v[i];
      }
    }

    matmul(s->xb2, s->xb, w->wo + l * dim * dim, dim, dim);
    for (int i = 0; i < dim; i++) x[i] += s->xb2[i];

    rmsnorm(s->xb, x, w->rms_ffn_weight + l * dim, dim);
    matmul(s->hb, s->xb, w->w1 + l * dim * hidden_dim, dim, hidden_dim);
    matmul(s->hb2, s->xb, w->w3 + l * dim * hidden_dim, dim, hidden_dim);
    /* SwiGLU non-linearity */
    for (int i = 0; i < hidden_dim; i++) {
      float val = s->hb[i];
      val *= (1.0f / (1.0f + expf(-val))); /* silu(x) = x * sigmoid(x) */
      val *= s->hb2[i];
      s->hb[i] = val;
    }
    matmul(s->xb, s->hb, w->w2 + l * dim * hidden_dim, hidden_dim, dim);
    for (int i = 0; i < dim; i++) x[i] += s->xb[i];
  }

  rmsnorm(x, x, w->rms_final_weight, dim);
  matmul(s->logits, x, w->wcls, p->dim, p->vocab_size);
  return s->logits;
}

/* ----------------------------------------------------------------------------------------------------------------- */
/* The Byte Pair Encoding (BPE) Tokenizer that translates strings <-> tokens */

typedef struct {
  char* str;
  int id;
} TokenIndex;

typedef struct {
  char** vocab;
  float* vocab_scores;
  TokenIndex* sorted_vocab;
  int vocab_size;
  unsigned int max_token_length;
  unsigned char byte_pieces[512]; /* stores all single-byte strings */
} Tokenizer;

static int compare_tokens(const void* a, const void* b) {
  return strcmp(((const TokenIndex*)a)->str, ((const TokenIndex*)b)->str);
}

static void build_tokenizer(Tokenizer* t, const char* tokenizer_path, int vocab_size) {
  t->vocab_size = vocab_size;
  t->vocab = (char**)xcalloc(vocab_size, sizeof(char*));
  t->vocab_scores = (float*)xcalloc(vocab_size, sizeof(float));
  t->sorted_vocab = NULL; /* initialized lazily */
  for (int i = 0; i < 256; i++) {
    t->byte_pieces[i * 2] = (unsigned char)i;
    t->byte_pieces[i * 2 + 1] = '\0';
  }
  FILE* file = fopen(tokenizer_path, "rb");
  if (!file) die("couldn't load tokenizer");
  if (fread(&t->max_token_length, sizeof(int), 1, file) != 1) die("tokenizer: failed read");
  if (t->max_token_length > (1u << 16)) die("tokenizer: implausible max_token_length");
  int len;
  for (int i = 0; i < vocab_size; i++) {
    if (fread(t->vocab_scores + i, sizeof(float), 1, file) != 1) die("tokenizer: failed read");
    if (fread(&len, sizeof(int), 1, file) != 1) die("tokenizer: failed read");
    if (len < 0 || (unsigned int)len > t->max_token_length) die("tokenizer: bad token length");
    t->vocab[i] = (char*)xcalloc(len + 1, 1);
    if (len > 0 && fread(t->vocab[i], len, 1, file) != 1) die("tokenizer: failed read");
    t->vocab[i][len] = '\0'; /* add the string terminating token */
  }
  fclose(file);
}

static void free_tokenizer(Tokenizer* t) {
  for (int i = 0; i < t->vocab_size; i++) free(t->vocab[i]);
  free(t->vocab);
  free(t->vocab_scores);
  free(t->sorted_vocab);
}

static char* decode(Tokenizer* t, int prev_token, int token) {
  char* piece = t->vocab[token];
  /* following BOS (1) token, sentencepiece decoder strips any leading whitespace */
  if (prev_token == 1 && piece[0] == ' ') piece++;
  /* careful, some tokens designate raw bytes, and look like e.g. '<0x01>' */
  unsigned char byte_val;
  if (sscanf(piece, "<0x%02hhX>", &byte_val) == 1) piece = (char*)t->byte_pieces + byte_val * 2;
  return piece;
}

static void safe_printf(FILE* out, const char* piece) {
  /* piece might be a raw byte token, and we only want to print printable chars or whitespace */
  if (piece == NULL) return;
  if (piece[0] == '\0') return;
  if (piece[1] == '\0') {
    unsigned char byte_val = piece[0];
    if (!(isprint(byte_val) || isspace(byte_val))) return; /* bad byte, don't print it */
  }
  fprintf(out, "%s", piece);
}

static int str_lookup(const char* str, TokenIndex* sorted_vocab, int vocab_size) {
  /* efficiently find the perfect match for str in vocab, return its index or -1 if not found */
  TokenIndex tok;
  tok.str = (char*)str;
  tok.id = 0;
  TokenIndex* res = (TokenIndex*)bsearch(&tok, sorted_vocab, vocab_size, sizeof(TokenIndex), compare_tokens);
  return res != NULL ? res->id : -1;
}

/* encode the string text (input) into an upper-bound preallocated tokens[] array (strlen(text)+3 entries).
 * bos != 0 means prepend the BOS token (=1), eos != 0 means append the EOS token (=2) */
static void encode(Tokenizer* t, const char* text, int8_t bos, int8_t eos, int* tokens, int* n_tokens) {
  if (text == NULL) die("cannot encode NULL text");

  if (t->sorted_vocab == NULL) {
    /* lazily malloc and sort the vocabulary */
    t->sorted_vocab = (TokenIndex*)xcalloc(t->vocab_size, sizeof(TokenIndex));
    for (int i = 0; i < t->vocab_size; i++) {
      t->sorted_vocab[i].str = t->vocab[i];
      t->sorted_vocab[i].id = i;
    }
    qsort(t->sorted_vocab, t->vocab_size, sizeof(TokenIndex), compare_tokens);
  }

  /* temporary buffer that will store merge candidates of always two consecutive tokens
   * *2 for concat, +1 for null terminator +2 for UTF8 (in case max_token_length is 1) */
  char* str_buffer = (char*)xcalloc(t->max_token_length * 2 + 1 + 2, 1);
  size_t str_len = 0;

  *n_tokens = 0;
  if (bos) tokens[(*n_tokens)++] = 1;

  /* add_dummy_prefix is true by default: prepend a dummy prefix token to the input string, but only if text != "" */
  if (text[0] != '\0') {
    int dummy_prefix = str_lookup(" ", t->sorted_vocab, t->vocab_size);
    if (dummy_prefix == -1) die("tokenizer has no \" \" token (run.c would use id -1 here)");
    tokens[(*n_tokens)++] = dummy_prefix;
  }

  /* process the raw (UTF-8) byte sequence of the input string */
  for (const char* c = text; *c != '\0'; c++) {
    /* reset buffer if the current byte is ASCII or a leading byte (not a continuation byte 10xxxxxx) */
    if ((*c & 0xC0) != 0x80) str_len = 0;
    str_buffer[str_len++] = *c;
    str_buffer[str_len] = '\0';
    /* while the next character is a continuation byte, continue appending (at most 4 bytes per codepoint) */
    if ((*(c + 1) & 0xC0) == 0x80 && str_len < 4) continue;
    int id = str_lookup(str_buffer, t->sorted_vocab, t->vocab_size);
    if (id != -1) {
      tokens[(*n_tokens)++] = id;
    } else {
      /* byte_fallback encoding: just encode each byte as a token; +3 because the first 3 vocab elements are
       * <unk>, <s>, </s> */
      for (size_t i = 0; i < str_len; i++) tokens[(*n_tokens)++] = (unsigned char)str_buffer[i] + 3;
    }
    str_len = 0;
  }

  /* merge the best consecutive pair each iteration, according to the scores in vocab_scores */
  while (1) {
    float best_score = -1e10f;
    int best_id = -1;
    int best_idx = -1;
    for (int i = 0; i < (*n_tokens - 1); i++) {
      /* check if we can merge the pair (tokens[i], tokens[i+1]) */
      sprintf(str_buffer, "%s%s", t->vocab[tokens[i]], t->vocab[tokens[i + 1]]);
      int id = str_lookup(str_buffer, t->sorted_vocab, t->vocab_size);
      if (id != -1 && t->vocab_scores[id] > best_score) {
        best_score = t->vocab_scores[id];
        best_id = id;
        best_idx = i;
      }
    }
    if (best_idx == -1) break; /* we couldn't find any more pairs to merge, so we're done */
    tokens[best_idx] = best_id;
    for (int i = best_idx + 1; i < (*n_tokens - 1); i++) tokens[i] = tokens[i + 1];
    (*n_tokens)--;
  }

  if (eos) tokens[(*n_tokens)++] = 2;
  free(str_buffer);
}

/* ----------------------------------------------------------------------------------------------------------------- */
/* Greedy sampling and generation */

static int sample_argmax(const float* probabilities, int n) {
  int max_i = 0;
  float max_p = probabilities[0];
  for (int i = 1; i < n; i++) {
    if (probabilities[i] > max_p) {
      max_i = i;
      max_p = probabilities[i];
    }
  }
  return max_i;
}

static void generate(Transformer* transformer, Tokenizer* tokenizer, const char* prompt, int steps) {
  int num_prompt_tokens = 0;
  int* prompt_tokens = (int*)xcalloc(strlen(prompt) + 3, sizeof(int));
  encode(tokenizer, prompt, 1, 0, prompt_tokens, &num_prompt_tokens);
  if (num_prompt_tokens < 1) die("expected at least 1 prompt token");

  int next;
  int token = prompt_tokens[0];
  int pos = 0;
  while (pos < steps) {
    float* logits = forward(transformer, token, pos);
    if (pos < num_prompt_tokens - 1) {
      next = prompt_tokens[pos + 1]; /* still processing the prompt: force the next prompt token */
    } else {
      next = sample_argmax(logits, transformer->config.vocab_size);
    }
    pos++;
    if (next == 1) break; /* data-dependent terminating condition: the BOS (=1) token delimits sequences */
    printf("%d\n", next);
    safe_printf(stderr, decode(tokenizer, token, next));
    token = next;
  }
  fprintf(stderr, "\n");
  fflush(stdout);
  free(prompt_tokens);
}

#ifndef RUN_REF_NO_MAIN
static void usage(void) {
  fprintf(stderr, "Usage: run_ref CKPT TOKENIZER [-n STEPS] [-i PROMPT] [--encode-only]\n");
  exit(EXIT_FAILURE);
}

int main(int argc, char* argv[]) {
  if (argc < 3) usage();
  const char* checkpoint_path = argv[1];
  const char* tokenizer_path = argv[2];
  int steps = 256;
  const char* prompt = "";
  int encode_only = 0;
  int vocab_size = 0; /* only for --encode-only without a readable checkpoint header: -v VOCAB */
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--encode-only") == 0) {
      encode_only = 1;
    } else if (i + 1 < argc && strcmp(argv[i], "-n") == 0) {
      steps = atoi(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "-i") == 0) {
      prompt = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "-v") == 0) {
      vocab_size = atoi(argv[++i]);
    } else {
      usage();
    }
  }
  if (steps < 0) steps = 0;

  Tokenizer tokenizer;
  if (encode_only) {
    if (vocab_size <= 0) {
      FILE* f = fopen(checkpoint_path, "rb");
      Config c;
      if (!f || fread(&c, sizeof(Config), 1, f) != 1) die("couldn't read the checkpoint header (or pass -v VOCAB)");
      fclose(f);
      vocab_size = abs(c.vocab_size);
    }
    build_tokenizer(&tokenizer, tokenizer_path, vocab_size);
    int n = 0;
    int* tokens = (int*)xcalloc(strlen(prompt) + 3, sizeof(int));
    encode(&tokenizer, prompt, 1, 0, tokens, &n);
    for (int i = 0; i < n; i++) printf("%d\n", tokens[i]);
    free(tokens);
    free_tokenizer(&tokenizer);
    return 0;
  }

  Transformer transformer;
  build_transformer(&transformer, checkpoint_path);
  if (steps == 0 || steps > transformer.config.seq_len) steps = transformer.config.seq_len; /* override to max */
  build_tokenizer(&tokenizer, tokenizer_path, transformer.config.vocab_size);
  generate(&transformer, &tokenizer, prompt, steps);
  free_tokenizer(&tokenizer);
  free_transformer(&transformer);
  return 0;
}
#endif /* RUN_REF_NO_MAIN */
