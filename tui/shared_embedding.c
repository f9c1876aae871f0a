#include "shared_embedding.h"

int shared_embedding_open(CommonOpts *co, SharedEmbedding *s) {
    int rc = cli_open_model_ranks(co, &s->dist, &s->be, &s->m, s->model_path,
                                  sizeof s->model_path);
    if (rc) return rc;
    progress_init(&s->progress);
    s->o = (EvalOpts){.threads = co->threads,
                      .progress = s->dist->rank == 0 ? progress_update : NULL,
                      .ctx = &s->progress,
                      .dist = s->dist};
    return EXIT_OK;
}

int shared_embedding_serve(SharedEmbedding *s, const volatile sig_atomic_t *stop) {
    Err e;
    int stopped;
    if (!eval_embed_serve(s->m, &s->o, stop, &stopped, &e)) return EXIT_OK;
    if (e.msg[0]) cli_error("%s", e.msg);  // (empty: rank 0 says it)
    return cli_failure_status(stopped ? stopped : stop ? *stop : 0);
}

void shared_embedding_close(SharedEmbedding *s) {
    eval_embed_done(&s->o);
    progress_end(&s->progress);
    model_free(s->m);
    backend_close(s->be);
    dist_close(s->dist);
}
