/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ATTESTD_DAEMON_API_H
#define ATTESTD_DAEMON_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/*
 * The local API: HTTP/1.1 + JSON on a unix socket (libevent evhttp).
 *
 * Access model. The socket is created 0666 by default (api.socket_mode):
 * the verdict, status, health and metrics routes are public facts about the
 * node, so anyone who can reach the socket may read them. The routes that
 * hand out a credential or cost an attestation (GET /v1/token, POST
 * /v1/attest) are authorized per caller from the kernel's view of the peer
 * (SO_PEERCRED uid/gid and SO_PEERGROUPS), never from anything the client
 * says: root, api.token_uids and api.token_gids. POST /v1/refresh is root
 * only. Those three routes are also rate-limited per uid (token bucket).
 * A stricter deployment sets socket_mode 0660 and a group.
 *
 * The API does not know how verdicts are made: the daemon core implements
 * struct api_ops and hands it to api_new(). Every callback runs on the
 * event-loop thread and must not block.
 */

struct event_base;
struct config;
struct metrics;
struct api;

/* Who is calling, as the kernel saw it when the connection was made. */
struct api_caller {
        uid_t uid;
        gid_t gid;
        pid_t pid;              /* 0 when unknown */
        int pidfd;              /* -1 when unavailable; borrowed: valid during the callback */
        bool pid_verified;      /* pid was tied to the connection by SO_PEERPIDFD and the
                                 * process was still alive after its cgroup was read */
        char pod_uid[64];       /* "" unless read from a live caller's cgroup */
        char container_id[80];  /* "" likewise; 64 lower-case hex digits */
};

/*
 * Completes an asynchronous POST /v1/attest. status is the HTTP status
 * (200, 403, 503...), body the JSON reply (stolen: the API releases it,
 * also when the client has gone). Call it exactly once per accepted attest,
 * from the loop thread; it is safe after the client disconnected and after
 * api_free() (then it only releases body and its bookkeeping).
 */
typedef void (*api_reply_fn)(void *done_ud, int status, json_t *body);

struct api_ops {
        /* GET /v1/verdict. max_age_s is the caller's ?max_age= (-1: none).
         * *ret: new reference to the verdict document. Returns the status:
         * 200 trusted, 403 untrusted, 503 unknown (or -errno → 500). */
        int (*verdict)(void *ud, long max_age_s, json_t **ret);

        /* Optional fast path for GET /v1/verdict without max_age: the
         * document already rendered (compact JSON ending in a newline),
         * borrowed until the loop turns. Returns the status like verdict(),
         * or -ENODATA to fall back to verdict(). */
        int (*verdict_body)(void *ud, const char **ret_text, size_t *ret_len);

        /* GET /v1/token for an authorized caller (audit the hand-out).
         * 0 and *ret_jwt (callee-allocated, free()d by the API after wiping),
         * -ENODATA when no trusted token is held (503), -EIO when the
         * hand-out cannot be audited (503), other -errno (500). */
        int (*token)(void *ud, const struct api_caller *caller, char **ret_jwt);

        /* POST /v1/attest for an authorized caller. nonce (1..64 bytes) is
         * borrowed for the call only. Returns 0 and later calls
         * done(done_ud, …) exactly once (it may do so before returning), or
         * returns -errno and never calls done: -EBUSY/-EAGAIN → 503 with
         * Retry-After, anything else → 500. The core bounds its own time. */
        int (*attest)(void *ud, const struct api_caller *caller, const uint8_t *nonce,
                      size_t nonce_len, api_reply_fn done, void *done_ud);

        /* POST /v1/refresh (root only): 0 scheduled, -EALREADY one already
         * running (both 202), other -errno (503). */
        int (*refresh)(void *ud, const struct api_caller *caller);

        /* GET /v1/status: new reference, or NULL (500). */
        json_t *(*status)(void *ud);

        /* GET /readyz: a definitive verdict is held. */
        bool (*ready)(void *ud);
};

/*
 * Create the API on base. cfg, ops, ud and metrics (may be NULL) are
 * borrowed and must outlive the API. Nothing listens until api_listen_fd()
 * or api_listen_path(). When cfg->api.metrics_listen is set, a TCP listener
 * serving only /metrics and /healthz is bound here. Returns 0, -EINVAL,
 * -EADDRINUSE, -ENOMEM. [out] callee-allocated; free with api_free().
 */
int api_new(struct event_base *base, const struct config *cfg, const struct api_ops *ops,
            void *ud, struct metrics *metrics, struct api **ret);

/* Serve on an already listening AF_UNIX stream socket (socket activation).
 * The API owns fd from then on (closes it, never unlinks the path). */
int api_listen_fd(struct api *api, int fd);

/*
 * Create cfg->api.socket and serve on it. The directory must exist, belong
 * to root or to us and not be writable by group or others (else -EPERM).
 * An existing path is replaced only when it is a socket nobody answers on
 * (-EEXIST for a non-socket, -EADDRINUSE for a live one). The socket is bound
 * under umask 0177 and then chmod'ed to cfg->api.socket_mode. api_free()
 * unlinks it if it is still the one we created.
 */
int api_listen_path(struct api *api);

/* Use cfg (borrowed) from now on: authorization lists and rate limits
 * take effect at once; the socket and the connection bounds need a restart
 * (a notice says so). */
void api_set_config(struct api *api, const struct config *cfg);

/* Open connections now (for tests and status). */
unsigned api_connections(const struct api *api);

/* Close every listener and connection; pending attests are orphaned (their
 * done() then only frees). Accepts NULL, returns NULL. */
struct api *api_free(struct api *api);

#endif
