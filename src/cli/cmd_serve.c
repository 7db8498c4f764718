/* cmd_serve — `lienthong serve`: runs the server in the foreground until SIGINT/SIGTERM.
 * Settings come from defaults, then --config FILE, then the command line. */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "exchange/app.h"
#include "util/log.h"

static const char usage[] =
    "usage: lienthong serve --data DIR --listen HOST:PORT [--config FILE]\n"
    "\n"
    "Runs the document interchange server in the foreground (stop it with Ctrl-C or SIGTERM).\n"
    "  --data DIR          data directory (created when missing)\n"
    "  --listen HOST:PORT  numeric address to listen on, e.g. 127.0.0.1:8080 or [::1]:8080\n"
    "  --config FILE       settings file: lines 'key = value', '#' comments. Keys: listen,\n"
    "                      threads, max_connections, idle_timeout_seconds, max_body_bytes,\n"
    "                      spool_memory_bytes, dedupe_window_seconds, list_limit, log_level,\n"
    "                      head_timeout_ms, max_connections_per_ip, trusted_proxies,\n"
    "                      agency_self_registration, anchor_every_records, anchor_every_ms,\n"
    "                      gateway_* and relay_* (README)\n"
    "One server per data directory: a second one refuses to start (DIR/lienthong.lock).\n";

int cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *listen = NULL, *config = NULL;
    const struct cli_opt opts[] = {{"data", &data, NULL, 1},
                                   {"listen", &listen, NULL, 0},
                                   {"config", &config, NULL, 0},
                                   {NULL, NULL, NULL, 0}};
    int rc = cli_parse_named("serve", argc, argv, opts, usage);
    if (rc != CLI_CONTINUE)
        return rc;

    struct app_config cfg;
    char err[512];
    app_config_defaults(&cfg);
    if ((config && app_config_load(&cfg, config, err, sizeof err) != 0) ||
        app_config_set(&cfg, "data", data, err, sizeof err) != 0 ||
        (listen && app_config_set(&cfg, "listen", listen, err, sizeof err) != 0)) {
        app_config_clear(&cfg);
        return cli_misuse("serve", usage, "%s", err);
    }
    enum log_level lvl = LOG_INFO;
    log_parse_level(cfg.log_level, &lvl);
    log_set_level(lvl);

    /* Block the stop signals before any thread starts, so that only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* a file size limit gives write errors (EFBIG), handled like a full disk, not a crash */
    signal(SIGXFSZ, SIG_IGN);
    /* every connection is a descriptor: take what the hard limit allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    struct app *a = app_start(&cfg, err, sizeof err);
    if (!a) {
        app_config_clear(&cfg);
        return cli_fail("serve", "%s", err);
    }
    char host[80];
    snprintf(host, sizeof host, strchr(a->cfg.host, ':') ? "[%s]" : "%s", a->cfg.host);
    printf("lienthong listening on http://%s:%u (data %s)\n", host, (unsigned)app_port(a),
           a->cfg.data_dir);
    fflush(stdout);
    log_info("serve: started, listen=%s:%u threads=%u data=%s", a->cfg.host, (unsigned)app_port(a),
             a->cfg.threads, a->cfg.data_dir);

    int sig = 0;
    sigwait(&stop, &sig);
    log_info("serve: signal %d, stopping", sig);
    app_stop(a);
    return CLI_EXIT_OK;
}
