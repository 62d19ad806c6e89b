/*
 * The cross-runtime scenario (tests/scenario/README.md) in C, plus the C ABI's own rules:
 * NULL and invalid UTF-8 arguments, too-small buffers, stale handles, a waiting
 * buildnet_next_event() woken by destroy, event streams of their own (buildnet_events_*: each
 * sees every event, close wakes a waiter, destroy ends them), and a handle used in a fork()ed
 * child.
 *
 * usage: scenario WORKSPACE CYCLE_WORKSPACE VECTORS_TSV
 * Prints one line per check; exits 1 at the first failed check.
 */
#define _POSIX_C_SOURCE 200809L
#include "buildnet.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int checks = 0;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            const char *last = buildnet_last_error();                                      \
            fprintf(stderr, " (last error %d: %s)\n", buildnet_last_error_code(),         \
                    last ? last : "none");                                                 \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_RC(expr, want)                                                               \
    do {                                                                                   \
        int rc_ = (expr);                                                                  \
        CHECK(rc_ == (want), "%s returned %d, expected %d", #expr, rc_, (int)(want));      \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Counts occurrences of `needle` in `haystack`. */
static int count(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void build_and_check(BuildNetHandle *h, const char *ws, int expect_cached) {
    char id[BUILDNET_ID_LEN];
    CHECK_RC(buildnet_request_build(h, "app", id, sizeof id), BUILDNET_OK);
    CHECK(strlen(id) > 0, "empty build id");
    char *record = NULL;
    CHECK_RC(buildnet_wait_build(h, id, 60000, &record), BUILDNET_OK);
    CHECK(record != NULL, "no record");
    CHECK(strstr(record, "\"status\":\"succeeded\"") != NULL, "build did not succeed: %s", record);
    CHECK(strstr(record, id) != NULL, "record is not of build %s: %s", id, record);
    const char *lib = strstr(record, "\"target\":\"lib\"");
    const char *app = strstr(record, "\"target\":\"app\"");
    CHECK(lib && app && lib < app, "targets not lib then app: %s", record);
    CHECK(count(record, "\"status\":\"succeeded\"") == 3, "not every target succeeded: %s", record);
    const char *want = expect_cached ? "\"cached\":true" : "\"cached\":false";
    CHECK(count(record, want) == 2, "expected both targets %s: %s", want, record);
    buildnet_string_free(record);

    char *json = NULL;
    CHECK_RC(buildnet_build_json(h, id, &json), BUILDNET_OK);
    CHECK(strstr(json, "\"status\":\"succeeded\"") != NULL, "build_json: %s", json);
    buildnet_string_free(json);

    char path[4096];
    snprintf(path, sizeof path, "%s/out/app.txt", ws);
    const char *out = read_file(path);
    CHECK(out && strcmp(out, "alpha\nbeta\nmain\n") == 0, "out/app.txt is %s", out ? out : "missing");
}

static int hexval(char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void check_vectors(const char *tsv) {
    FILE *f = fopen(tsv, "r");
    CHECK(f != NULL, "cannot open %s", tsv);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        char *name = strtok(line, "\t");
        char *hex = strtok(NULL, "\t");
        char *b3 = strtok(NULL, "\t");
        char *xx = strtok(NULL, "\t");
        if (!xx) { /* empty input: the hex field is empty, strtok skipped it */
            xx = b3;
            b3 = hex;
            hex = "";
        }
        size_t len = strlen(hex) / 2;
        unsigned char *data = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) data[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
        uint8_t out[32];
        CHECK_RC(buildnet_blake3(len ? data : NULL, len, out), BUILDNET_OK);
        char got[65];
        for (int i = 0; i < 32; i++) snprintf(got + 2 * i, 3, "%02x", out[i]);
        CHECK(strcmp(got, b3) == 0, "blake3(%s) = %s, want %s", name, got, b3);
        char gotx[17];
        snprintf(gotx, sizeof gotx, "%016llx", (unsigned long long)buildnet_xxhash(data, len));
        CHECK(strcmp(gotx, xx) == 0, "xxhash(%s) = %s, want %s", name, gotx, xx);
        free(data);
        n++;
    }
    free(line);
    fclose(f);
    CHECK(n >= 5, "only %d vectors read", n);
    printf("ok hashes: %d vectors\n", n);
}

struct waiter {
    BuildNetHandle *h;
    int rc;
};

static void *wait_event(void *arg) {
    struct waiter *w = arg;
    char *json = NULL;
    w->rc = buildnet_next_event(w->h, -1, &json);
    buildnet_string_free(json);
    return NULL;
}

struct stream_waiter {
    BuildNetEvents *events;
    int rc;
};

static void *wait_stream_event(void *arg) {
    struct stream_waiter *w = arg;
    char *json = NULL;
    w->rc = buildnet_events_next(w->events, -1, &json);
    buildnet_string_free(json);
    return NULL;
}

/* The next event of `events` about state key `key` (skipping any other), waiting up to 5 s
 * for each; the caller frees it. */
static char *next_state_event(BuildNetEvents *events, const char *key) {
    char want[256];
    snprintf(want, sizeof want, "\"key\":\"%s\"", key);
    for (;;) {
        char *ev = NULL;
        CHECK_RC(buildnet_events_next(events, 5000, &ev), BUILDNET_OK);
        if (strstr(ev, "\"type\":\"state_changed\"") && strstr(ev, want)) return ev;
        buildnet_string_free(ev);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s WORKSPACE CYCLE_WORKSPACE VECTORS_TSV\n", argv[0]);
        return 2;
    }
    const char *ws = argv[1];
    char config[4096], cycle[4096], path[4096];
    snprintf(config, sizeof config, "%s/buildnet.yaml", ws);
    snprintf(cycle, sizeof cycle, "%s/buildnet.yaml", argv[2]);

    CHECK(strcmp(buildnet_version(), "0.1.0") >= 0, "version %s", buildnet_version());
    CHECK(buildnet_last_error() == NULL, "an error before any call");

    /* 1. create and start */
    BuildNetHandle *h = buildnet_create(config);
    CHECK(h != NULL, "create failed");
    CHECK_RC(buildnet_start(h), BUILDNET_OK);
    CHECK_RC(buildnet_start(h), BUILDNET_OK); /* idempotent */
    char *status = NULL;
    CHECK_RC(buildnet_status_json(h, &status), BUILDNET_OK);
    CHECK(strstr(status, "\"running\":true") != NULL, "status: %s", status);
    CHECK(strstr(status, "\"address\":\"127.0.0.1:") != NULL, "status: %s", status);
    CHECK(strstr(status, "\"address\":\"127.0.0.1:0\"") == NULL, "port 0 in status: %s", status);
    buildnet_string_free(status);
    printf("ok started\n");

    /* 2. cold build, 3. cached build with restore */
    build_and_check(h, ws, 0);
    printf("ok cold build\n");
    snprintf(path, sizeof path, "%s/out/app.txt", ws);
    CHECK(unlink(path) == 0, "unlink %s", path);
    build_and_check(h, ws, 1);
    printf("ok cached build restores outputs\n");

    /* 4. events: drained without waiting, then none within 50 ms */
    int started = 0, finished = 0, target_finished = 0, events = 0;
    for (;;) {
        char *ev = NULL;
        int rc = buildnet_next_event(h, 0, &ev);
        if (rc == BUILDNET_NO) break;
        CHECK_RC(rc, BUILDNET_OK);
        CHECK(strstr(ev, "\"seq\":") && strstr(ev, "\"at_ms\":") && strstr(ev, "\"type\":"), "event %s", ev);
        started += strstr(ev, "\"type\":\"build_started\"") != NULL;
        finished += strstr(ev, "\"type\":\"build_finished\"") != NULL;
        target_finished += strstr(ev, "\"type\":\"target_finished\"") != NULL;
        events++;
        buildnet_string_free(ev);
    }
    CHECK(started == 2 && finished == 2 && target_finished == 4,
          "events: %d started, %d finished, %d target_finished of %d", started, finished, target_finished, events);
    char *none = (char *)"untouched";
    CHECK_RC(buildnet_next_event(h, 50, &none), BUILDNET_NO);
    printf("ok events: %d\n", events);

    /* event streams of their own: each sees every event from its opening, apart from the
     * handle's stream and from each other */
    BuildNetEvents *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK_RC(buildnet_events_open(h, &s1), BUILDNET_OK);
    CHECK_RC(buildnet_events_open(h, &s2), BUILDNET_OK);
    CHECK(s1 != NULL && s2 != NULL && s1 != s2, "streams %p and %p", (void *)s1, (void *)s2);
    CHECK_RC(buildnet_events_next(s1, 0, &none), BUILDNET_NO); /* nothing from before */
    CHECK_RC(buildnet_events_next(s2, 50, &none), BUILDNET_NO);
    CHECK_RC(buildnet_set_state(h, "scenario/streams", "seen", 0), BUILDNET_OK);
    char *ev1 = next_state_event(s1, "scenario/streams");
    char *ev2 = next_state_event(s2, "scenario/streams");
    CHECK(strcmp(ev1, ev2) == 0, "two streams saw %s and %s", ev1, ev2);
    CHECK(strstr(ev1, "\"seq\":") && strstr(ev1, "\"at_ms\":"), "event %s", ev1);
    buildnet_string_free(ev1);
    buildnet_string_free(ev2);
    /* the handle's own stream saw it too, unaffected by the others' reading */
    for (int found = 0; !found;) {
        ev1 = NULL;
        CHECK_RC(buildnet_next_event(h, 5000, &ev1), BUILDNET_OK);
        found = strstr(ev1, "\"key\":\"scenario/streams\"") != NULL;
        buildnet_string_free(ev1);
    }
    CHECK(strcmp(none, "untouched") == 0, "a NO wrote to out_json");
    /* NULL arguments */
    CHECK_RC(buildnet_events_open(h, NULL), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_events_open(NULL, &s3), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_events_next(s1, 0, NULL), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_events_next(NULL, 0, &none), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_events_close(NULL), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_events_next((BuildNetEvents *)(uintptr_t)0xdead, 0, &none), BUILDNET_ERR_INVALID_STATE);
    /* closing wakes a waiter on another thread; a closed stream is INVALID_STATE, closing it
     * again too */
    CHECK_RC(buildnet_events_open(h, &s3), BUILDNET_OK);
    struct stream_waiter sw = {s3, 99};
    pthread_t st;
    CHECK(pthread_create(&st, NULL, wait_stream_event, &sw) == 0, "pthread_create");
    sleep_ms(200);
    CHECK_RC(buildnet_events_close(s3), BUILDNET_OK);
    pthread_join(st, NULL);
    CHECK(sw.rc == BUILDNET_ERR_INVALID_STATE, "the waiting events_next returned %d", sw.rc);
    CHECK_RC(buildnet_events_next(s3, 0, &none), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_close(s3), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_close(s2), BUILDNET_OK);
    CHECK_RC(buildnet_events_close(s2), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_next(s2, 0, &none), BUILDNET_ERR_INVALID_STATE);
    CHECK(strcmp(none, "untouched") == 0, "a failed events_next wrote to out_json");
    /* s1 stays open until the handle is destroyed (9.) */
    for (char *ev = NULL; buildnet_events_next(s1, 0, &ev) == BUILDNET_OK; ev = NULL) buildnet_string_free(ev);
    printf("ok event streams\n");

    /* 5. state */
    char value[64];
    CHECK_RC(buildnet_get_state(h, "scenario/missing", value, sizeof value), BUILDNET_NO);
    CHECK_RC(buildnet_set_state(h, "scenario/k", "v1", 0), BUILDNET_OK);
    CHECK_RC(buildnet_get_state(h, "scenario/k", value, sizeof value), BUILDNET_OK);
    CHECK(strcmp(value, "v1") == 0, "value %s", value);
    char big[10001];
    memset(big, 'x', 10000);
    big[10000] = 0;
    CHECK_RC(buildnet_set_state(h, "scenario/big", big, 0), BUILDNET_OK);
    memcpy(value, "sentinel", 9);
    CHECK_RC(buildnet_get_state(h, "scenario/big", value, sizeof value), BUILDNET_ERR_BUFFER_TOO_SMALL);
    CHECK(buildnet_required_len() == 10001, "required %zu", buildnet_required_len());
    CHECK(strcmp(value, "sentinel") == 0, "a too-small buffer was written to");
    CHECK(strstr(buildnet_last_error(), "10001") != NULL, "message %s", buildnet_last_error());
    char *whole = malloc(buildnet_required_len());
    CHECK_RC(buildnet_get_state(h, "scenario/big", whole, 10001), BUILDNET_OK);
    CHECK(strcmp(whole, big) == 0, "the big value did not round-trip");
    free(whole);
    CHECK_RC(buildnet_set_state(h, "scenario/ttl", "soon", 150), BUILDNET_OK);
    CHECK_RC(buildnet_get_state(h, "scenario/ttl", value, sizeof value), BUILDNET_OK);
    sleep_ms(400);
    CHECK_RC(buildnet_get_state(h, "scenario/ttl", value, sizeof value), BUILDNET_NO);
    CHECK_RC(buildnet_delete_state(h, "scenario/k"), BUILDNET_OK);
    CHECK_RC(buildnet_delete_state(h, "scenario/k"), BUILDNET_NO);
    printf("ok state\n");

    /* 6. locks */
    char token[BUILDNET_ID_LEN], other[BUILDNET_ID_LEN];
    int64_t fence1 = 0, fence2 = 0;
    CHECK_RC(buildnet_acquire_lock(h, "scenario/res", 5000, token, sizeof token, &fence1), BUILDNET_OK);
    CHECK(strlen(token) == 32 && fence1 > 0, "token %s fence %lld", token, (long long)fence1);
    CHECK_RC(buildnet_acquire_lock(h, "scenario/res", 5000, other, sizeof other, NULL), BUILDNET_NO);
    CHECK_RC(buildnet_release_lock(h, "scenario/res", "0123456789abcdef0123456789abcdef"), BUILDNET_NO);
    CHECK_RC(buildnet_release_lock(h, "scenario/res", token), BUILDNET_OK);
    CHECK_RC(buildnet_acquire_lock(h, "scenario/res", 5000, other, 8, NULL), BUILDNET_ERR_BUFFER_TOO_SMALL);
    CHECK(buildnet_required_len() == BUILDNET_ID_LEN, "required %zu", buildnet_required_len());
    CHECK_RC(buildnet_acquire_lock(h, "scenario/res", 5000, other, sizeof other, &fence2), BUILDNET_OK);
    CHECK(strcmp(token, other) != 0 && fence2 > fence1, "fence %lld then %lld", (long long)fence1, (long long)fence2);
    CHECK_RC(buildnet_release_lock(h, "scenario/res", other), BUILDNET_OK);
    printf("ok locks\n");

    /* 7. hashes */
    check_vectors(argv[3]);

    /* 8. errors */
    char id[BUILDNET_ID_LEN];
    CHECK_RC(buildnet_request_build(h, "nope", id, sizeof id), BUILDNET_ERR_NOT_FOUND);
    CHECK(strstr(buildnet_last_error(), "nope") != NULL, "message %s", buildnet_last_error());
    CHECK(buildnet_last_error_code() == BUILDNET_ERR_NOT_FOUND, "code %d", buildnet_last_error_code());
    CHECK_RC(buildnet_request_build(h, "lib,,app", id, sizeof id), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_request_build(h, "app", id, 4), BUILDNET_ERR_BUFFER_TOO_SMALL);
    CHECK_RC(buildnet_request_build(h, "app", NULL, 0), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_request_build(h, NULL, id, sizeof id), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_set_state(h, "", "v", 0), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_get_state(h, "\xff\xfe", value, sizeof value), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(buildnet_last_error(), "UTF-8") != NULL, "message %s", buildnet_last_error());
    CHECK_RC(buildnet_get_state(h, NULL, value, sizeof value), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_get_state(NULL, "k", value, sizeof value), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_wait_build(h, "no-such-build", 100, NULL), BUILDNET_ERR_NOT_FOUND);
    CHECK_RC(buildnet_blake3(NULL, 5, (uint8_t *)value), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK(buildnet_xxhash(NULL, 5) == 0 && buildnet_last_error_code() == BUILDNET_ERR_INVALID_ARGUMENT, "xxhash(NULL, 5)");
    CHECK(buildnet_xxhash((const uint8_t *)"abc", 3) == 0x78af5f94892f3950ULL, "xxhash(abc)");
    CHECK(buildnet_last_error_code() == BUILDNET_OK && buildnet_last_error() == NULL, "a success clears the last error");
    CHECK_RC(buildnet_status_json(h, NULL), BUILDNET_ERR_INVALID_ARGUMENT);
    CHECK_RC(buildnet_get_state((BuildNetHandle *)(uintptr_t)0xdead, "k", value, sizeof value), BUILDNET_ERR_INVALID_STATE);

    BuildNetHandle *c = buildnet_create(cycle);
    CHECK(c != NULL, "create cycle workspace");
    CHECK_RC(buildnet_request_build(c, "a", id, sizeof id), BUILDNET_ERR_CYCLE);
    CHECK_RC(buildnet_destroy(c), BUILDNET_OK);
    snprintf(path, sizeof path, "%s/no-such.yaml", ws);
    CHECK(buildnet_create(path) == NULL && buildnet_last_error_code() == BUILDNET_ERR_NOT_FOUND, "missing config");
    snprintf(path, sizeof path, "%s/bad.yaml", argv[2]);
    FILE *bad = fopen(path, "w");
    fputs("targets: [this is not a map\n", bad);
    fclose(bad);
    CHECK(buildnet_create(path) == NULL && buildnet_last_error_code() == BUILDNET_ERR_CONFIG, "malformed config");
    CHECK(buildnet_create("\xff.yaml") == NULL && buildnet_last_error_code() == BUILDNET_ERR_INVALID_ARGUMENT, "invalid UTF-8 path");
    printf("ok errors\n");

    /* a handle made before fork() refuses to work in the child */
    CHECK_RC(buildnet_set_state(h, "scenario/fork", "parent", 0), BUILDNET_OK);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int rc = buildnet_get_state(h, "scenario/fork", value, sizeof value);
        _exit(rc == BUILDNET_ERR_INVALID_STATE ? 0 : 10 + (rc < 0 ? -rc : rc));
    }
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "child status %d", wstatus);
    CHECK_RC(buildnet_get_state(h, "scenario/fork", value, sizeof value), BUILDNET_OK);
    printf("ok fork\n");

    /* 9. destroy wakes a waiting next_event and a waiting events_next, then the handle is
     * dead; its open stream is ended but still closes once */
    for (char *ev = NULL; buildnet_next_event(h, 0, &ev) == BUILDNET_OK; ev = NULL) buildnet_string_free(ev);
    for (char *ev = NULL; buildnet_events_next(s1, 0, &ev) == BUILDNET_OK; ev = NULL) buildnet_string_free(ev);
    struct waiter w = {h, 99};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wait_event, &w) == 0, "pthread_create");
    struct stream_waiter sw1 = {s1, 99};
    CHECK(pthread_create(&st, NULL, wait_stream_event, &sw1) == 0, "pthread_create");
    sleep_ms(200);
    CHECK_RC(buildnet_destroy(h), BUILDNET_OK);
    pthread_join(t, NULL);
    pthread_join(st, NULL);
    CHECK(w.rc == BUILDNET_ERR_INVALID_STATE, "the waiting next_event returned %d", w.rc);
    CHECK(sw1.rc == BUILDNET_ERR_INVALID_STATE, "the waiting events_next returned %d", sw1.rc);
    CHECK_RC(buildnet_events_next(s1, 0, &none), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_next(s1, 50, &none), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_open(h, &s2), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_events_close(s1), BUILDNET_OK);
    CHECK_RC(buildnet_events_close(s1), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_destroy(h), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_get_state(h, "scenario/k", value, sizeof value), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_start(h), BUILDNET_ERR_INVALID_STATE);
    CHECK_RC(buildnet_destroy(NULL), BUILDNET_ERR_INVALID_ARGUMENT);
    printf("ok destroy\n");

    /* The state survived: a new handle over the same workspace reads it. */
    BuildNetHandle *again = buildnet_create(config);
    CHECK(again != NULL, "re-create");
    CHECK_RC(buildnet_get_state(again, "scenario/fork", value, sizeof value), BUILDNET_OK);
    CHECK(strcmp(value, "parent") == 0, "value %s", value);
    CHECK_RC(buildnet_destroy(again), BUILDNET_OK);

    printf("all %d checks passed\n", checks);
    return 0;
}
