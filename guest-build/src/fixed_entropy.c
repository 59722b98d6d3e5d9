/* Preloaded (LD_PRELOAD) into componentize-py while it builds a Python workflow: every request
 * for entropy gets the same bytes. componentize-py runs CPython's initialization at build time
 * and snapshots it, so the interpreter's str hash secret comes from this entropy: with it
 * fixed, hash() of strings, and so the iteration order of sets of strings, is the same in
 * every build of the same sources. (The random module is seeded again at run time, from the
 * workflow's own seeded randomness.) The bytes are the same on every call, so the order in
 * which the build's threads ask does not matter. Not for anything that needs secrecy. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/types.h>

static void fill(void *buf, size_t len) {
    unsigned long long state = 0x9E3779B97F4A7C15ULL;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        p[i] = (unsigned char)state;
    }
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)flags;
    fill(buf, len);
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len) {
    fill(buf, len);
    return 0;
}
