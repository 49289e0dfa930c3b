#include <stdlib.h>

#define VEC_CAP 16

/* A growable vector of ints. */
struct vec {
    int *data;
    size_t len;
};

typedef struct vec vec_t;

/* Create an empty vector. */
vec_t *vec_new(void) {
    vec_t *v = malloc(sizeof(vec_t));
    v->data = NULL;
    v->len = 0;
    return v;
}

int vec_sum(const vec_t *v) {
    int total = 0;
    for (size_t i = 0; i < v->len; i++) total += v->data[i];
    return total;
}
