/* bench/loadgen.c: the surge's load generator in C, for bench/surge.py (which builds it with the machine's cc).

   Why: the generator shares the box's two cores with the server. The Python generator (asyncio protocols on
   uvloop) spent 67–178 µs of CPU a request, so at 10× of what the server sustains (20,000+ requests a second) it
   needed more than a core and fell behind its own schedule: those runs measured the generator. This one does the
   same thing with one epoll loop and spends 22–30 µs a request at 10×, most of it in the kernel's send and
   receive (bench/README.md, sixth session).

   It does exactly what surge.py's Python generator does (that generator stays, `--generator python`):
     open    requests sent on schedule (rate a second for `seconds`), whether or not earlier ones were answered,
             over up to `conns` keep-alive connections (a request waits for a free one, and that wait counts in
             its latency, measured from the moment it was due); a resident told 503 comes back when told
             (Allot-Queue-Wait-Ms with the ticket, else Retry-After) until `linger` seconds after the last arrival
     closed  `conns` connections, each sends its next resident's claim as soon as it has an answer; one told 503
             busy asks again after min(pause, the wait it was told), with its ticket
     get     `conns` connections sending request 0 over and over
   Requests time out `timeout` seconds after they were sent (the connection is then closed).

   usage: loadgen MODE PORT REQUESTS OUT RATE SECONDS CONNS TIMEOUT LINGER PAUSE [WARM]
     WARM:     connections opened before the run starts (default 0: each opened when a request finds none idle),
               as a front proxy holds its pool to the app servers open before an opening
     REQUESTS: u32 count, then per request u32 length + the request line and headers (each ending CRLF, without
               the blank line), u32 length + the body. Request i is resident i of the run.
     OUT:      one 56-byte record per answer (see struct record), little-endian, in the order answered.
   Prints one line of JSON on stdout: CPU seconds, connections opened, whether it ran out of requests. */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { OPEN, CLOSED, GET };
enum { ST_ERROR = 0, ST_TIMEOUT = -1 };

#pragma pack(push, 1)
struct record {              /* 56 bytes, read by surge.py with struct '<IhBB24sddd' */
    uint32_t idx;            /* the request's (resident's) number in the run */
    int16_t status;          /* HTTP status; 0 client error, -1 timeout */
    uint8_t queued;          /* a 503 that gave a place in the waiting room (Allot-Queue-Token) */
    uint8_t code_len;
    char code[24];           /* the answer's "code" field, if any */
    double latency;          /* seconds from the moment it was due to the answer */
    double done_at;          /* seconds since the start */
    double lag;              /* how late the generator itself sent it */
};
#pragma pack(pop)

struct job { uint32_t idx; double due; double lag; char *token; };   /* lag < 0: not yet handed to submit */

struct conn {
    int fd, connecting, busy, closed;
    struct job job;
    double sent_at, lag;
    char *w; size_t wlen, woff;
    char *r; size_t rlen, rcap;
};

static int mode, port;
static double rate, seconds, timeout_s, linger, pause_s;
static int max_conns;
static uint32_t nreq;
static char **prefix, **body;
static uint32_t *prefix_len, *body_len;

static struct conn **conns; static int nconns, opened, open_now;
static struct conn **idle; static int nidle, idle_cap;
static struct job *pending; static size_t pend_head, pend_tail, pend_cap;   /* FIFO of jobs waiting for a conn */
static struct job *heap; static size_t nheap, heap_cap;                       /* retries, by due time */
static struct record *recs; static size_t nrec, rec_cap;
static int ep;
static double t0;
static uint32_t next_idx;
static int ran_out;
static long inflight;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) { perror("realloc"); exit(2); }
    return q;
}

static void heap_push(struct job j) {
    if (nheap == heap_cap) { heap_cap = heap_cap ? heap_cap * 2 : 1024; heap = xrealloc(heap, heap_cap * sizeof *heap); }
    size_t i = nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p].due <= j.due) break;
        heap[i] = heap[p]; i = p;
    }
    heap[i] = j;
}

static struct job heap_pop(void) {
    struct job top = heap[0], last = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheap) break;
        if (c + 1 < nheap && heap[c + 1].due < heap[c].due) c++;
        if (last.due <= heap[c].due) break;
        heap[i] = heap[c]; i = c;
    }
    if (nheap) heap[i] = last;
    return top;
}

static void record_add(uint32_t idx, int status, int queued, const char *code, size_t code_len, double due,
                       double t, double lag) {
    if (nrec == rec_cap) { rec_cap = rec_cap ? rec_cap * 2 : 65536; recs = xrealloc(recs, rec_cap * sizeof *recs); }
    struct record *r = &recs[nrec++];
    memset(r, 0, sizeof *r);
    r->idx = idx; r->status = (int16_t)status; r->queued = (uint8_t)queued;
    if (code_len > sizeof r->code) code_len = sizeof r->code;
    r->code_len = (uint8_t)code_len;
    if (code_len) memcpy(r->code, code, code_len);
    r->latency = t - due; r->done_at = t - t0; r->lag = lag;
}

static void ep_set(struct conn *c, int out) {
    struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c) {
    if (c->closed) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->closed = 1;
    open_now--;
}

static void job_done(void);
static void closed_next(double t);

static void idle_push(struct conn *c) {
    if (nidle == idle_cap) { idle_cap = idle_cap ? idle_cap * 2 : 1024; idle = xrealloc(idle, (size_t)idle_cap * sizeof *idle); }
    idle[nidle++] = c;
}

/* the request in flight on c failed (status ST_ERROR or ST_TIMEOUT): record it and drop the connection */
static void conn_fail(struct conn *c, int status) {
    double t = now();
    if (c->busy) {
        record_add(c->job.idx, status, 0, NULL, 0, c->job.due, t, c->lag);
        free(c->job.token);
        c->busy = 0;
        inflight--;
        conn_close(c);
        if (mode != OPEN) closed_next(t);
        job_done();
    } else {
        conn_close(c);
    }
}

static int try_write(struct conn *c) {
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->w + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) { ep_set(c, 1); return 0; }
            conn_fail(c, ST_ERROR);
            return -1;
        }
        c->woff += (size_t)n;
    }
    ep_set(c, 0);
    return 0;
}

static void conn_send(struct conn *c, struct job j, double t) {
    size_t tl = j.token ? strlen(j.token) : 0;
    size_t need = prefix_len[j.idx] + (tl ? tl + 21 : 0) + 2 + body_len[j.idx];
    if (need > c->wlen || !c->w) c->w = xrealloc(c->w, need);
    char *p = c->w;
    memcpy(p, prefix[j.idx], prefix_len[j.idx]); p += prefix_len[j.idx];
    if (tl) { memcpy(p, "Allot-Queue-Token: ", 19); p += 19; memcpy(p, j.token, tl); p += tl; *p++ = '\r'; *p++ = '\n'; }
    *p++ = '\r'; *p++ = '\n';
    memcpy(p, body[j.idx], body_len[j.idx]); p += body_len[j.idx];
    c->wlen = (size_t)(p - c->w); c->woff = 0;
    c->job = j; c->busy = 1; c->sent_at = t; c->lag = j.lag;
    c->rlen = 0;
    inflight++;
    if (!c->connecting) try_write(c);
}

static struct conn *conn_open(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc < 0 && errno != EINPROGRESS) { close(fd); return NULL; }
    struct conn *c = calloc(1, sizeof *c);
    c->fd = fd; c->connecting = rc < 0;
    c->rcap = 8192; c->r = malloc(c->rcap);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    conns = xrealloc(conns, (size_t)(nconns + 1) * sizeof *conns);
    conns[nconns++] = c;
    opened++; open_now++;
    return c;
}

/* send j on an idle connection, a new one if under the limit, else queue it */
static void submit(struct job j) {
    double t = now();
    if (j.lag < 0) j.lag = t - j.due;   /* how late the generator got to it (a wait for a free connection is not its lag) */
    while (nidle) {
        struct conn *c = idle[--nidle];
        if (!c->closed) { conn_send(c, j, t); return; }
    }
    if (open_now < max_conns) {
        struct conn *c = conn_open();
        if (c) { conn_send(c, j, t); return; }
        record_add(j.idx, ST_ERROR, 0, NULL, 0, j.due, t, j.lag);
        free(j.token);
        return;
    }
    if (pend_tail - pend_head == pend_cap) {
        size_t n = pend_tail - pend_head, cap = pend_cap ? pend_cap * 2 : 4096;
        struct job *q = malloc(cap * sizeof *q);
        for (size_t i = 0; i < n; i++) q[i] = pending[(pend_head + i) % (pend_cap ? pend_cap : 1)];
        free(pending); pending = q; pend_cap = cap; pend_head = 0; pend_tail = n;
    }
    pending[pend_tail++ % pend_cap] = j;
}

/* a connection became free (or one was dropped): give it the oldest waiting job */
static void job_done(void) {
    if (pend_tail != pend_head) {
        struct job j = pending[pend_head++ % pend_cap];
        submit(j);
    }
}

static void closed_next(double t) {   /* the closed loop: this connection's worker asks for the next resident */
    if (t - t0 >= seconds) return;
    if (mode == GET) { submit((struct job){ 0, t, -1, NULL }); return; }
    if (next_idx >= nreq) { ran_out = 1; return; }
    submit((struct job){ next_idx++, t, -1, NULL });
}

static const char *find_header(const char *h, size_t n, const char *name, size_t *vlen) {
    size_t nl = strlen(name);
    const char *p = h, *end = h + n;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

static double header_num(const char *h, size_t n, const char *name) {
    size_t vl; const char *v = find_header(h, n, name, &vl);
    if (!v) return 0;
    char tmp[32]; if (vl >= sizeof tmp) vl = sizeof tmp - 1;
    memcpy(tmp, v, vl); tmp[vl] = 0;
    return atof(tmp);
}

/* one whole answer is in c->r: returns its length, or 0 if more is needed */
static size_t answer(struct conn *c) {
    char *end = memmem(c->r, c->rlen, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t hlen = (size_t)(end - c->r) + 4;
    const char *h = c->r;
    size_t length = (size_t)header_num(h, hlen - 2, "content-length");
    if (c->rlen < hlen + length) return 0;
    double t = now();
    int status = c->rlen > 12 ? atoi(c->r + 9) : 0;
    const char *b = c->r + hlen, *code = NULL;
    size_t code_len = 0;
    const char *k = memmem(b, length, "\"code\"", 6);
    if (k) {
        const char *q = k + 6, *bend = b + length;
        while (q < bend && (*q == ':' || *q == ' ')) q++;
        if (q < bend && *q == '"') {
            code = ++q;
            while (q < bend && ((*q >= 'a' && *q <= 'z') || *q == '_')) q++;
            code_len = (size_t)(q - code);
        }
    }
    size_t tl; const char *token = find_header(h, hlen - 2, "allot-queue-token", &tl);
    record_add(c->job.idx, status, token != NULL, code, code_len, c->job.due, t, c->lag);
    size_t cl; const char *conn_h = find_header(h, hlen - 2, "connection", &cl);
    int close_after = conn_h && cl == 5 && strncasecmp(conn_h, "close", 5) == 0;
    struct job j = c->job;
    free(j.token);
    c->busy = 0;
    inflight--;
    size_t used = hlen + length;
    if (close_after) conn_close(c);
    else { memmove(c->r, c->r + used, c->rlen - used); c->rlen -= used; idle_push(c); }
    if (status == 503 && mode != GET) {
        double wait = header_num(h, hlen - 2, "allot-queue-wait-ms") / 1000;
        if (wait <= 0) wait = header_num(h, hlen - 2, "retry-after");
        double limit = mode == OPEN ? seconds + linger : seconds;
        if (wait > 0 && t + wait < t0 + limit) {
            char *tok = NULL;
            if (token && tl) { tok = malloc(tl + 1); memcpy(tok, token, tl); tok[tl] = 0; }
            double again = mode == OPEN ? t + wait : t + (wait < pause_s ? wait : pause_s);
            heap_push((struct job){ j.idx, again, -1, tok });   /* meanwhile its connection is idle */
        } else if (mode != OPEN) {
            closed_next(t);
        }
    } else if (mode != OPEN) {
        closed_next(t);
    }
    return used;
}

static void on_readable(struct conn *c) {
    for (;;) {
        if (c->rlen == c->rcap) { c->rcap *= 2; c->r = xrealloc(c->r, c->rcap); }
        ssize_t n = read(c->fd, c->r + c->rlen, c->rcap - c->rlen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            conn_fail(c, ST_ERROR);
            return;
        }
        if (n == 0) { conn_fail(c, ST_ERROR); return; }
        c->rlen += (size_t)n;
        if ((size_t)n < c->rcap - (c->rlen - (size_t)n)) break;
    }
    if (!c->busy) { c->rlen = 0; return; }   /* nothing asked: stray bytes */
    if (answer(c)) job_done();
}

static int load_requests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    if (fread(&nreq, 4, 1, f) != 1) return -1;
    prefix = calloc(nreq ? nreq : 1, sizeof *prefix); body = calloc(nreq ? nreq : 1, sizeof *body);
    prefix_len = calloc(nreq ? nreq : 1, 4); body_len = calloc(nreq ? nreq : 1, 4);
    for (uint32_t i = 0; i < nreq; i++) {
        if (fread(&prefix_len[i], 4, 1, f) != 1) return -1;
        prefix[i] = malloc(prefix_len[i] + 1);
        if (prefix_len[i] && fread(prefix[i], prefix_len[i], 1, f) != 1) return -1;
        if (fread(&body_len[i], 4, 1, f) != 1) return -1;
        body[i] = malloc(body_len[i] + 1);
        if (body_len[i] && fread(body[i], body_len[i], 1, f) != 1) return -1;
    }
    fclose(f);
    return 0;
}

/* open n connections and wait until each is connected (or 5 s, after which the rest are dropped), then a further 0.2 s for the server to take them
   in; they wait idle for the run's first requests */
static void warm_up(int n) {
    for (int k = 0; k < n && open_now < max_conns; k++) if (!conn_open()) break;
    struct epoll_event evs[512];
    double until = now() + 5.0;
    for (;;) {
        int connecting = 0;
        for (int k = 0; k < nconns; k++) connecting += !conns[k]->closed && conns[k]->connecting;
        if (!connecting || now() > until) break;
        int got = epoll_wait(ep, evs, 512, 50);
        for (int k = 0; k < got; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->closed || !c->connecting || !(evs[k].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) continue;
            int err = 0; socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) { conn_close(c); continue; }
            c->connecting = 0;
            ep_set(c, 0);
        }
    }
    for (int k = 0; k < nconns; k++) {   /* connected: idle for the run; still connecting after 5 s: dropped */
        if (conns[k]->closed) continue;
        if (conns[k]->connecting) conn_close(conns[k]); else idle_push(conns[k]);
    }
    struct timespec settle = { 0, 200000000 };
    nanosleep(&settle, NULL);
}

int main(int argc, char **argv) {
    if (argc != 11 && argc != 12) { fprintf(stderr, "usage: loadgen MODE PORT REQUESTS OUT RATE SECONDS CONNS TIMEOUT LINGER PAUSE [WARM]\n"); return 2; }
    mode = strcmp(argv[1], "open") == 0 ? OPEN : strcmp(argv[1], "closed") == 0 ? CLOSED : GET;
    port = atoi(argv[2]);
    rate = atof(argv[5]); seconds = atof(argv[6]); max_conns = atoi(argv[7]);
    timeout_s = atof(argv[8]); linger = atof(argv[9]); pause_s = atof(argv[10]);
    if (load_requests(argv[3]) < 0 || nreq == 0) { fprintf(stderr, "loadgen: bad request file\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    ep = epoll_create1(0);
    struct epoll_event evs[512];
    uint64_t total = mode == OPEN ? (uint64_t)(rate * seconds) : 0;
    if (total > nreq) total = nreq;
    uint64_t i = 0;
    if (argc == 12 && mode == OPEN) warm_up(atoi(argv[11]));
    t0 = now();
    double next_sweep = t0 + 0.1;
    if (mode != OPEN) for (int k = 0; k < max_conns; k++) closed_next(t0);
    for (;;) {
        double t = now();
        if (mode == OPEN) {
            if (t > t0 + seconds + linger + timeout_s) break;
            while (i < total && t0 + (double)i / rate <= t) {   /* everything due by now, in one go */
                submit((struct job){ (uint32_t)i, t0 + (double)i / rate, -1, NULL });
                i++;
            }
        }
        while (nheap && heap[0].due <= t) {
            struct job j = heap_pop();
            if (mode != OPEN && t - t0 >= seconds) { free(j.token); continue; }
            submit(j);
        }
        if (t >= next_sweep) {
            for (int k = 0; k < nconns; k++) {
                struct conn *c = conns[k];
                if (!c->closed && c->busy && t - c->sent_at > timeout_s) conn_fail(c, ST_TIMEOUT);
            }
            next_sweep = t + 0.1;
        }
        int done = mode == OPEN ? (i >= total && !inflight && !nheap && pend_tail == pend_head)
                                : (!inflight && !nheap && pend_tail == pend_head);
        if (done) break;
        double wake = next_sweep;
        if (mode == OPEN && i < total && t0 + (double)i / rate < wake) wake = t0 + (double)i / rate;
        if (nheap && heap[0].due < wake) wake = heap[0].due;
        double d = wake - now();
        if (d < 0) d = 0;
        struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
        int n = epoll_pwait2(ep, evs, 512, &ts, NULL);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->closed) continue;
            if (evs[k].events & (EPOLLERR)) { conn_fail(c, ST_ERROR); continue; }
            if (c->connecting && (evs[k].events & (EPOLLOUT | EPOLLHUP))) {
                int err = 0; socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) { conn_fail(c, ST_ERROR); continue; }
                c->connecting = 0;
                if (c->busy) { if (try_write(c) < 0) continue; } else ep_set(c, 0);
                continue;
            }
            if ((evs[k].events & EPOLLOUT) && c->busy && c->woff < c->wlen) { if (try_write(c) < 0) continue; }
            if (evs[k].events & (EPOLLIN | EPOLLHUP)) on_readable(c);
        }
    }
    FILE *out = fopen(argv[4], "wb");
    if (!out || fwrite(recs, sizeof *recs, nrec, out) != nrec) { perror(argv[4]); return 2; }
    fclose(out);
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    printf("{\"cpu_seconds\": %.3f, \"connections\": %d, \"ran_out\": %d, \"records\": %zu}\n", cpu, opened, ran_out, nrec);
    return 0;
}
