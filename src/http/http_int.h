/* http_int — what the files of src/http share: the event loop, the server, and the connection
 * gate (gate.c) that accepts connections, applies the per-address and head-time limits and
 * checks each connection's first request head before handing it to libmicrohttpd. */
#ifndef LT_HTTP_INT_H
#define LT_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/head.h"
#include "http/http.h"

#define MAX_REPLY_HEADERS 128 /* a proxied response passes the upstream's headers */
#define MAX_LOOPS 256

struct gate_conn;

/* Connections the gate holds until their first request head is complete (FIFO: every one has
 * the same timeout, so the first is the next to expire). */
struct gate_list {
    struct gate_conn *head, *tail;
};

struct http_loop {
    struct http_server *srv;
    struct MHD_Daemon *daemon;
    int epfd;
    struct http_watch mhd_watch;  /* the daemon's own epoll set, nested in ours */
    struct http_watch wake_watch; /* eventfd: stop */
    pthread_t thread;
    int started;
    atomic_int stop;
    int kick; /* a connection was resumed: MHD must run (loop thread only) */
    void *slot;
    int64_t timer_ms; /* -1: disarmed */
    void (*timer_fn)(void *ctx);
    void *timer_ctx;
    /* the gate */
    struct http_watch listen_watch;
    struct gate_list waiting; /* head not complete yet */
    struct gate_list closing; /* refused: draining what the client still sends, then closed */
    char *peek;               /* scratch for the bytes peeked at */
    int64_t listen_resume_ms; /* > 0: the listening socket is unwatched until then (EMFILE) */
};

struct ip_table;

struct http_server {
    struct http_config cfg;
    struct http_head_limits head_limits;
    struct ip_table *ips;
    atomic_uint_fast64_t n_open, n_bad, n_timeouts, n_per_ip, n_overloaded;
    atomic_int_fast64_t log_last_ms, log_suppressed;
    char *spool_dir;
    int listen_fd;
    uint16_t port;
    unsigned n_loops;
    struct http_loop *loops;
};

/* --- gate.c --- */
/* Sets up the gate's state of the server (the per-address table) / of a loop (the listening
 * socket watched, the scratch buffer). 0 or -1 (reason in err). */
int gate_server_init(struct http_server *s, char *err, size_t err_len);
int gate_loop_init(struct http_loop *l, char *err, size_t err_len);
/* The earliest deadline of the loop's held connections (monotonic ms), -1 when none; and the
 * expiry of those reached. */
int64_t gate_next_deadline(const struct http_loop *l);
void gate_expire(struct http_loop *l, int64_t now_ms);
/* Closes what the loop still holds / frees the server's table (after the loops stopped). */
void gate_loop_free(struct http_loop *l);
void gate_server_free(struct http_server *s);
/* libmicrohttpd closed a connection the gate handed over: its address no longer counts. */
void gate_released(struct http_server *s, const struct sockaddr *sa);
/* Called with that close notification: tells a failing MHD_add_connection on this thread that
 * the count was released already. */
void gate_note_closed_while_adding(void);
/* A limit refused someone: one log line per second at most, with the count of those not
 * logged. */
void gate_log_refusal(struct http_server *s, const char *client, const char *what);

#endif
