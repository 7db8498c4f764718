/* app — configuration and the life cycle of the running server (see app.h). */
#include "exchange/app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/anchor.h"
#include "exchange/api.h"
#include "exchange/sigcheck.h"
#include "store/committer.h"
#include "http/http.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

void app_config_defaults(struct app_config *c)
{
    memset(c, 0, sizeof *c);
    c->host = strdup("127.0.0.1");
    c->port = 8080;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 && n < 64 ? (unsigned)n : 2;
    c->max_connections = 1000;
    c->idle_timeout_s = 60;
    c->max_body_bytes = 100ULL << 20;
    c->spool_memory_bytes = 1ULL << 20;
    c->dedupe_window_s = 600;
    c->list_limit = 1000;
    c->agency_self_registration = 1;
    c->head_timeout_ms = 10000;
    c->max_connections_per_ip = 256;
    c->anchor_every_records = 10000;
    c->anchor_every_ms = 600000;
    c->signatures.max_bytes = 16u << 20;
    c->log_level = strdup("info");
    gateway_config_defaults(&c->gateway);
    relay_config_defaults(&c->relay);
}

void app_config_clear(struct app_config *c)
{
    free(c->data_dir);
    free(c->host);
    free(c->log_level);
    free(c->signature_ca_file);
    addr_list_free(&c->trusted_proxies);
    memset(c, 0, sizeof *c);
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || *v == '-' || x < min || x > max)
        return -1;
    *ret = x;
    return 0;
}

/* Sets one key; the same keys as the config file. */
int app_config_set(struct app_config *c, const char *key, const char *value, char *err,
                   size_t err_len)
{
    uint64_t v;
    if (strcmp(key, "listen") == 0) {
        const char *colon = strrchr(value, ':');
        if (!colon || parse_u64(colon + 1, 0, 65535, &v) != 0)
            goto bad;
        size_t hl = (size_t)(colon - value);
        if (hl >= 2 && value[0] == '[' && value[hl - 1] == ']') {
            value++;
            hl -= 2;
        }
        free(c->host);
        c->host = strndup(value, hl);
        c->port = (uint16_t)v;
        return 0;
    }
    if (strcmp(key, "data") == 0) {
        free(c->data_dir);
        c->data_dir = strdup(value);
        return 0;
    }
    if (strcmp(key, "log_level") == 0) {
        enum log_level l;
        if (log_parse_level(value, &l) != 0)
            goto bad;
        free(c->log_level);
        c->log_level = strdup(value);
        return 0;
    }
    if (strcmp(key, "signature_ca_file") == 0) {
        free(c->signature_ca_file);
        c->signature_ca_file = *value ? strdup(value) : NULL;
        c->signatures.ca_file = c->signature_ca_file;
        return 0;
    }
    if (strcmp(key, "trusted_proxies") == 0) {
        struct addr_list l;
        if (addr_list_parse(value, &l, err, err_len) != 0)
            return -1;
        addr_list_free(&c->trusted_proxies);
        c->trusted_proxies = l;
        return 0;
    }
    if (strcmp(key, "agency_self_registration") == 0) {
        if (strcmp(value, "on") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            c->agency_self_registration = 1;
        else if (strcmp(value, "off") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "0") == 0)
            c->agency_self_registration = 0;
        else
            goto bad;
        return 0;
    }
    struct {
        const char *name;
        uint64_t min, max;
        int width; /* 0: unsigned, 1: uint64, 2: size_t */
        void *field;
    } nums[] = {
        {"threads", 1, 256, 0, &c->threads},
        {"max_connections", 1, 100000, 0, &c->max_connections},
        {"idle_timeout_seconds", 1, 86400, 0, &c->idle_timeout_s},
        {"head_timeout_ms", 100, 600000, 0, &c->head_timeout_ms},
        {"anchor_every_records", 1, 100000000, 1, &c->anchor_every_records},
        {"anchor_every_ms", 100, 86400000, 1, &c->anchor_every_ms},
        {"signature_verify_max_bytes", 0, 1ULL << 31, 2, &c->signatures.max_bytes},
        {"max_connections_per_ip", 0, 100000, 0, &c->max_connections_per_ip},
        {"max_body_bytes", 1024, 1ULL << 40, 1, &c->max_body_bytes},
        {"spool_memory_bytes", 0, 1ULL << 30, 1, &c->spool_memory_bytes},
        {"dedupe_window_seconds", 0, 7 * 86400, 0, &c->dedupe_window_s},
        {"list_limit", 1, 100000, 0, &c->list_limit},
        {"gateway_token_ttl_seconds", 1, 30 * 86400, 1, &c->gateway.token_ttl_s},
        {"gateway_breaker_failures", 1, 1000, 0, &c->gateway.breaker_failures},
        {"gateway_breaker_open_ms", 1, 3600 * 1000, 1, &c->gateway.breaker_open_ms},
        {"gateway_retries", 0, 5, 0, &c->gateway.retries},
        {"gateway_max_in_flight", 1, 100000, 0, &c->gateway.max_in_flight},
        {"gateway_upstream_connections", 1, 10000, 0, &c->gateway.upstream_connections},
        {"gateway_tokens_per_client", 1, 100000, 0, &c->gateway.tokens_per_client},
        {"relay_workers", 1, 256, 0, &c->relay.workers},
        {"relay_backoff_ms", 1, 3600 * 1000, 1, &c->relay.backoff_base_ms},
        {"relay_backoff_max_ms", 1, 86400 * 1000, 1, &c->relay.backoff_max_ms},
        {"relay_max_attempts", 1, 10000, 0, &c->relay.max_attempts},
        {"relay_call_timeout_ms", 100, 3600 * 1000, 1, &c->relay.call_timeout_ms},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(key, nums[i].name) != 0)
            continue;
        if (parse_u64(value, nums[i].min, nums[i].max, &v) != 0) {
            snprintf(err, err_len, "%s must be a number from %llu to %llu", key,
                     (unsigned long long)nums[i].min, (unsigned long long)nums[i].max);
            return -1;
        }
        if (nums[i].width == 2)
            *(size_t *)nums[i].field = (size_t)v;
        else if (nums[i].width)
            *(uint64_t *)nums[i].field = v;
        else
            *(unsigned *)nums[i].field = (unsigned)v;
        return 0;
    }
    snprintf(err, err_len, "unknown setting '%s'", key);
    return -1;
bad:
    snprintf(err, err_len, "bad value for %s: '%s'", key, value);
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int app_config_load(struct app_config *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, err_len, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char msg[200];
        if (app_config_set(c, trim(s), trim(eq + 1), msg, sizeof msg) != 0) {
            snprintf(err, err_len, "%s:%d: %s", path, lineno, msg);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

/* One server per data directory: DATA/lienthong.lock, held (flock) while the server runs and
 * naming its process. Command-line tools do not take it: SQLite serialises their writes. */
static int lock_data_dir(struct app *a, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lienthong.lock", a->cfg.data_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        trim(pid);
        snprintf(err, err_len,
                 "another lienthong server is running on %s (process %s): stop it first, or give "
                 "this one its own --data directory",
                 a->cfg.data_dir, *pid ? pid : "unknown");
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warn("cannot write the process id into %s: %s", path, strerror(errno));
    a->lock_fd = fd;
    return 0;
}

/* The administrator token of /api/v1: created once (0600) in the data directory. */
static int load_admin_token(struct app *a, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/admin.token", a->cfg.data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, a->admin_token, sizeof a->admin_token - 1);
        close(fd);
        if (n >= 32) {
            a->admin_token[n] = '\0';
            trim(a->admin_token);
            return 0;
        }
    }
    uint8_t raw[32];
    char secret[45];
    if (random_secret(secret) != 0 || sha256(secret, strlen(secret), raw) != 0)
        return -1;
    hex_encode(raw, sizeof raw, a->admin_token);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, a->admin_token, 64) != 64 || fsync(fd) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

struct app *app_start(struct app_config *cfg, char *err, size_t err_len)
{
    struct app *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->started_ms = now_ms();
    edxml_limits_default(&a->limits);
    a->limits.max_input_bytes = cfg->max_body_bytes;

    a->lock_fd = -1;
    /* the store creates the directory, then the lock says whether it is ours */
    a->store = store_sqlite_open(cfg->data_dir, err, err_len);
    if (!a->store || lock_data_dir(a, err, err_len) != 0)
        goto fail;
    if (load_admin_token(a, err, err_len) != 0)
        goto fail;
    a->committer = committer_start(a->store, err, err_len);
    if (!a->committer)
        goto fail;
    char key_path[4096];
    snprintf(key_path, sizeof key_path, "%s/" ANCHOR_KEY_FILE, cfg->data_dir);
    if (!(a->audit_key = sign_key_open(key_path, 1, err, err_len)) ||
        !(a->anchorer = anchorer_start(a->store, a->committer, a->audit_key,
                                       (int64_t)cfg->anchor_every_records,
                                       (int64_t)cfg->anchor_every_ms, err, err_len)) ||
        !(a->sigcheck = sigcheck_start(a->store, a->committer, &a->cfg.signatures, err, err_len)))
        goto fail;
    a->cfg.gateway.trusted_proxies = &a->cfg.trusted_proxies;
    a->gateway = gateway_start(a->store, a->committer, &a->cfg.gateway, err, err_len);
    if (!a->gateway)
        goto fail;
    a->relay = relay_start(a->store, a->committer, &a->limits, &cfg->relay, err, err_len);
    if (!a->relay)
        goto fail;
    char spool[4096];
    snprintf(spool, sizeof spool, "%s/tmp", cfg->data_dir);
    if (mkdir(spool, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create %s: %s", spool, strerror(errno));
        goto fail;
    }
    struct http_config hc = {
        .host = cfg->host,
        .port = cfg->port,
        .threads = cfg->threads,
        .max_connections = cfg->max_connections,
        .idle_timeout_s = cfg->idle_timeout_s,
        .max_body_bytes = cfg->max_body_bytes,
        .spool_memory = (size_t)cfg->spool_memory_bytes,
        .spool_dir = spool,
        .max_header_bytes = 16 * 1024,
        .max_headers_total = 64 * 1024,
        .max_headers = 100,
        .head_timeout_ms = cfg->head_timeout_ms,
        .max_connections_per_ip = cfg->max_connections_per_ip,
        .trusted_proxies = &a->cfg.trusted_proxies,
        .router = app_router,
        .not_found = api_not_found,
        .too_large = api_too_large,
        .bad_headers = api_bad_headers,
        .no_storage = api_no_storage,
        .app = a,
    };
    a->http = http_start(&hc, err, err_len);
    if (!a->http)
        goto fail;
    return a;
fail:
    /* the threads that read the configuration stop before it is handed back */
    sigcheck_stop(a->sigcheck);
    anchorer_stop(a->anchorer);
    a->sigcheck = NULL;
    a->anchorer = NULL;
    memset(&a->cfg, 0, sizeof a->cfg); /* still the caller's */
    app_stop(a);
    return NULL;
}

uint16_t app_port(const struct app *a)
{
    return http_bound_port(a->http);
}

void app_stop(struct app *a)
{
    if (!a)
        return;
    /* Every suspended request must be answered before MHD's daemon stops: the gateway ends its
     * transfers (503), then draining the committer answers the documents waiting for it.
     * Requests arriving meanwhile are refused as overloaded. Calls finishing after that still
     * get their log record (written directly once the committer is gone). */
    gateway_quiesce(a->gateway);
    relay_stop(a->relay);       /* its last outcomes still need the committer */
    anchorer_stop(a->anchorer); /* and so does its last anchor */
    sigcheck_stop(a->sigcheck); /* and its last verdicts */
    committer_stop(a->committer);
    http_stop(a->http);
    gateway_stop(a->gateway);
    committer_free(a->committer);
    relay_free(a->relay); /* the committer's last jobs may have used its routing cache */
    store_close(a->store);
    sign_key_free(a->audit_key);
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* releases the lock */
    app_config_clear(&a->cfg);
    free(a);
}
