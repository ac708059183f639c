// roomcast-tftp-pump: the data path of roomcast's TFTP server (driven by services/boot/tftp/pump.ts).
//
// Node (server.ts) receives and judges every request: the name, the boot directory, the limits, the
// options. For each accepted octet-mode read it hands this process one line; this process opens the
// file, makes the transfer's socket (a new port bound to the listener's address and connected to the
// client: RFC 1350's TID) and runs the transfer to its end, then answers one line. One process, one
// epoll loop, every transfer at once: per DATA packet one recv of the ACK and one sendmsg, no
// allocation, the data read from the page cache in 64 KiB preads. Node's per-message costs (a libuv
// callback, a Buffer and a JavaScript event per packet) made the Node engine 0.4-0.8x tftpd-hpa.
//
// The transfer rules are transfer.ts's, exactly (its header states them):
//   - blocks are numbered logically from 1 and sent as (n & 0xffff); a window of `windowsize`
//     blocks is sent, then an ACK inside the window moves it on (an ACK before its end restarts it
//     after the acknowledged block);
//   - a duplicate or stale ACK (0 ahead, or more than what is in flight) is ignored (Sorcerer's
//     Apprentice); with options, the OACK is sent first and only ACK 0 starts the data;
//   - on timeout the window (or the OACK) is sent again with exponential backoff
//     (timeout * 2^attempts, at most max(timeout, max-backoff)), `retries` times, then it ends;
//   - the socket is connected to the client: the kernel drops packets from anyone else, and an ICMP
//     port unreachable (the client is gone) ends the transfer at once;
//   - a file that shrank while being sent is sent as zeros up to the announced size.
//
// Protocol, one line each, fields separated by one space; text fields in lowercase hex, "-" if empty:
//   in:  S <id> <local-ip> <peer-ip> <peer-port> <dev> <ino> <size> <blksize> <windowsize>
//          <timeout-ms> <retries> <max-backoff-ms> <oack-hex> <path-hex>
//        C <id>      cancel: answered by an E line of kind "cancelled"
//   out: R           ready
//        E <id> <kind> <blocks-sent> <retransmits> <ignored-acks> <ms> <detail-hex>
//          kind: complete | client-error (detail: the client's ERROR packet) | timeout (detail: the
//          last send error) | socket-error (detail: the message) | cancelled
// The file is opened with O_NOFOLLOW and must be the regular file Node checked (same device and
// inode), or the transfer ends with a socket-error. End of input (roomcast stopped or died) ends
// every transfer and the process; so does the death of the parent (PR_SET_PDEATHSIG).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OP_DATA 3
#define OP_ACK 4
#define OP_ERROR 5
#define MAX_BLKSIZE 65464
#define READ_BYTES 65536
#define IN_BYTES (1 << 17)

enum phase { PH_OACK, PH_DATA, PH_DONE };

struct xfer {
  uint64_t id;
  int sock, fd;
  enum phase phase;
  int want_out;
  uint64_t size, total, acked, sent_up_to, next_send, window_last;
  uint32_t blksize, windowsize, timeout_ms, retries, max_backoff_ms, attempts;
  int64_t deadline, started;
  unsigned char *oack;
  size_t oack_len;
  unsigned char *buf;
  uint64_t buf_first;
  uint32_t buf_cap, buf_count;
  uint64_t blocks_sent, retransmits, ignored_acks;
  char last_send_error[160];
  struct xfer *next_dead;
};

static struct xfer **table;
static size_t n_xfers, cap_xfers;
static struct xfer *dead;
static int ep;
static int64_t next_scan = INT64_MAX;
static char out[1 << 16];
static size_t out_len;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flush_out(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t n = write(1, out + done, out_len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) exit(0); // roomcast is gone: nothing left to serve
    done += (size_t)n;
  }
  out_len = 0;
}

static void emit(const char *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  if (out_len + (size_t)n > sizeof out) flush_out();
  memcpy(out + out_len, line, (size_t)n);
  out_len += (size_t)n;
}

static void to_hex(char *dst, const unsigned char *src, size_t len) {
  static const char digits[] = "0123456789abcdef";
  if (len == 0) {
    strcpy(dst, "-");
    return;
  }
  for (size_t i = 0; i < len; i++) {
    dst[2 * i] = digits[src[i] >> 4];
    dst[2 * i + 1] = digits[src[i] & 15];
  }
  dst[2 * len] = 0;
}

static int from_hex(const char *s, unsigned char *dst, size_t cap, size_t *len) {
  if (strcmp(s, "-") == 0) {
    *len = 0;
    return 0;
  }
  size_t n = strlen(s);
  if (n % 2 || n / 2 > cap) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = s[2 * i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
      else return -1;
    }
    dst[i] = (unsigned char)v;
  }
  *len = n / 2;
  return 0;
}

// Ends a transfer once: its E line now, its memory after the current batch of events (a later event
// of the same batch may still point at it).
static void finish(struct xfer *x, const char *kind, const unsigned char *detail, size_t detail_len) {
  if (x->phase == PH_DONE) return;
  x->phase = PH_DONE;
  if (x->sock >= 0) close(x->sock); // also leaves the epoll set
  if (x->fd >= 0) close(x->fd);
  x->sock = x->fd = -1;
  if (detail_len > 400) detail_len = 400;
  char hex[801];
  to_hex(hex, detail, detail_len);
  emit("E %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %s\n", x->id, kind, x->blocks_sent, x->retransmits,
       x->ignored_acks, now_ms() - x->started, hex);
  x->next_dead = dead;
  dead = x;
}

static void finish_msg(struct xfer *x, const char *kind, const char *msg) {
  finish(x, kind, (const unsigned char *)msg, strlen(msg));
}

static void arm(struct xfer *x) {
  uint64_t cap = x->max_backoff_ms > x->timeout_ms ? x->max_backoff_ms : x->timeout_ms;
  uint64_t wait = x->timeout_ms;
  for (uint32_t i = 0; i < x->attempts && wait < cap; i++) wait *= 2;
  if (wait > cap) wait = cap;
  x->deadline = now_ms() + (int64_t)wait;
  if (x->deadline < next_scan) next_scan = x->deadline;
}

static void want_out(struct xfer *x, int on) {
  if (x->want_out == on) return;
  struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = x};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, x->sock, &ev) == 0) x->want_out = on;
}

// Reads the blocks from `first` on into the transfer's buffer. Returns -1 when the transfer ended.
static int fill(struct xfer *x, uint64_t first) {
  uint64_t count = x->total - first + 1;
  if (count > x->buf_cap) count = x->buf_cap;
  uint64_t offset = (first - 1) * x->blksize;
  uint64_t want = count * x->blksize;
  if (want > x->size - offset) want = x->size - offset;
  uint64_t got = 0;
  while (got < want) {
    ssize_t n = pread(x->fd, x->buf + got, want - got, (off_t)(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      char msg[200];
      snprintf(msg, sizeof msg, "cannot read the file: %s", strerror(errno));
      finish_msg(x, "socket-error", msg);
      return -1;
    }
    if (n == 0) break;
    got += (uint64_t)n;
  }
  if (got < want) memset(x->buf + got, 0, want - got);
  x->buf_first = first;
  x->buf_count = (uint32_t)count;
  return 0;
}

// Sends DATA n. Returns 0 when sent (or lost: the timer covers it), 1 when the socket is full, -1
// when the transfer ended.
static int send_block(struct xfer *x, uint64_t n) {
  if (n < x->buf_first || n >= x->buf_first + x->buf_count) {
    // The whole window from the first unacknowledged block: a retransmission reads nothing again.
    if (fill(x, n > x->acked ? x->acked + 1 : n) < 0) return -1;
  }
  uint64_t len = n < x->total ? x->blksize : x->size - (x->total - 1) * x->blksize;
  unsigned char header[4] = {0, OP_DATA, (unsigned char)((n >> 8) & 0xff), (unsigned char)(n & 0xff)};
  struct iovec iov[2] = {{header, 4}, {x->buf + (n - x->buf_first) * x->blksize, len}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  for (;;) {
    if (sendmsg(x->sock, &msg, MSG_DONTWAIT) >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
    if (errno == ECONNREFUSED) {
      finish_msg(x, "socket-error", "client is gone (port unreachable)");
      return -1;
    }
    snprintf(x->last_send_error, sizeof x->last_send_error, "%s", strerror(errno));
    return 0;
  }
}

static void pump_out(struct xfer *x) {
  while (x->next_send <= x->window_last) {
    int r = send_block(x, x->next_send);
    if (r < 0) return;
    if (r == 1) {
      want_out(x, 1);
      return;
    }
    x->blocks_sent++;
    if (x->next_send > x->sent_up_to) x->sent_up_to = x->next_send;
    x->next_send++;
  }
  want_out(x, 0);
}

static void send_window(struct xfer *x) {
  x->window_last = x->acked + x->windowsize;
  if (x->window_last > x->total) x->window_last = x->total;
  x->next_send = x->acked + 1;
  pump_out(x);
  if (x->phase != PH_DONE) arm(x);
}

static void send_oack(struct xfer *x) {
  if (send(x->sock, x->oack, x->oack_len, MSG_DONTWAIT) < 0) {
    if (errno == ECONNREFUSED) {
      finish_msg(x, "socket-error", "client is gone (port unreachable)");
      return;
    }
    snprintf(x->last_send_error, sizeof x->last_send_error, "%s", strerror(errno));
  }
  arm(x);
}

static void on_ack(struct xfer *x, unsigned block) {
  if (x->phase == PH_OACK) {
    if (block != 0) {
      x->ignored_acks++;
      return;
    }
    x->phase = PH_DATA;
    x->attempts = 0;
    send_window(x);
    return;
  }
  // Distance from the last acknowledged block, modulo 2^16: 1..(blocks in flight) is progress.
  uint64_t ahead = (block - (unsigned)(x->acked & 0xffff)) & 0xffff;
  if (ahead == 0 || ahead > x->sent_up_to - x->acked) {
    x->ignored_acks++;
    return;
  }
  x->acked += ahead;
  x->attempts = 0;
  if (x->acked >= x->total) finish(x, "complete", NULL, 0);
  else send_window(x);
}

static void on_readable(struct xfer *x) {
  unsigned char msg[2048];
  ssize_t n = recv(x->sock, msg, sizeof msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    if (errno == ECONNREFUSED) finish_msg(x, "socket-error", "client is gone (port unreachable)");
    else finish_msg(x, "socket-error", strerror(errno));
    return;
  }
  if (n < 4) return;
  unsigned op = (unsigned)msg[0] << 8 | msg[1];
  if (op == OP_ACK) on_ack(x, (unsigned)msg[2] << 8 | msg[3]);
  else if (op == OP_ERROR) finish(x, "client-error", msg, (size_t)n);
  // Anything else (DATA, a request sent to the wrong port, garbage) is ignored.
}

static void on_timeout(struct xfer *x) {
  x->attempts++;
  if (x->attempts > x->retries) {
    finish_msg(x, "timeout", x->last_send_error);
    return;
  }
  x->retransmits++;
  if (x->phase == PH_OACK) send_oack(x);
  else send_window(x);
}

static void scan_deadlines(int64_t now) {
  next_scan = INT64_MAX;
  for (size_t i = 0; i < n_xfers; i++) {
    struct xfer *x = table[i];
    if (x->phase == PH_DONE) continue;
    if (x->deadline <= now) on_timeout(x);
    if (x->phase != PH_DONE && x->deadline < next_scan) next_scan = x->deadline;
  }
}

static struct addrinfo *numeric_address(const char *host, const char *port) {
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_DGRAM};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) != 0) return NULL;
  return ai;
}

static void start(char **f) {
  // f: id local peer port dev ino size blksize windowsize timeout retries backoff oack path
  struct xfer *x = calloc(1, sizeof *x);
  if (!x) abort();
  x->sock = x->fd = -1;
  x->id = strtoull(f[0], NULL, 10);
  x->started = now_ms();
  x->phase = PH_DATA;
  if (n_xfers == cap_xfers) {
    cap_xfers = cap_xfers ? cap_xfers * 2 : 256;
    table = realloc(table, cap_xfers * sizeof *table);
    if (!table) abort();
  }
  table[n_xfers++] = x;

  unsigned long long dev = strtoull(f[4], NULL, 10), ino = strtoull(f[5], NULL, 10);
  x->size = strtoull(f[6], NULL, 10);
  unsigned long blksize = strtoul(f[7], NULL, 10), windowsize = strtoul(f[8], NULL, 10);
  x->timeout_ms = (uint32_t)strtoul(f[9], NULL, 10);
  x->retries = (uint32_t)strtoul(f[10], NULL, 10);
  x->max_backoff_ms = (uint32_t)strtoul(f[11], NULL, 10);
  if (blksize < 8 || blksize > MAX_BLKSIZE || windowsize < 1 || windowsize > 65535 || x->timeout_ms < 1) {
    finish_msg(x, "socket-error", "pump: invalid transfer parameters");
    return;
  }
  x->blksize = (uint32_t)blksize;
  x->windowsize = (uint32_t)windowsize;
  x->total = x->size / x->blksize + 1;

  unsigned char pathbuf[4097];
  size_t path_len, oack_len;
  unsigned char oack[MAX_BLKSIZE];
  if (from_hex(f[12], oack, sizeof oack, &oack_len) < 0 || from_hex(f[13], pathbuf, sizeof pathbuf - 1, &path_len) < 0 || path_len == 0) {
    finish_msg(x, "socket-error", "pump: malformed start line");
    return;
  }
  pathbuf[path_len] = 0;
  if (oack_len > 0) {
    x->oack = malloc(oack_len);
    if (!x->oack) abort();
    memcpy(x->oack, oack, oack_len);
    x->oack_len = oack_len;
    x->phase = PH_OACK;
  }

  x->fd = open((char *)pathbuf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (x->fd < 0 || fstat(x->fd, &st) < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "cannot open the file: %s", strerror(errno));
    finish_msg(x, "socket-error", msg);
    return;
  }
  if (!S_ISREG(st.st_mode) || (unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino) {
    finish_msg(x, "socket-error", "the file changed between its check and its transfer");
    return;
  }
  uint64_t cap = READ_BYTES / x->blksize;
  if (cap < x->windowsize) cap = x->windowsize;
  if (cap < 1) cap = 1;
  x->buf_cap = (uint32_t)cap;
  x->buf = malloc((size_t)cap * x->blksize);
  if (!x->buf) abort();

  struct addrinfo *local = numeric_address(f[1], "0"), *peer = numeric_address(f[2], f[3]);
  const char *problem = NULL;
  if (!local || !peer || local->ai_family != peer->ai_family) problem = "pump: bad address";
  else if ((x->sock = socket(local->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) problem = strerror(errno);
  else if (bind(x->sock, local->ai_addr, local->ai_addrlen) < 0) problem = strerror(errno);
  else if (connect(x->sock, peer->ai_addr, peer->ai_addrlen) < 0) problem = strerror(errno);
  if (local) freeaddrinfo(local);
  if (peer) freeaddrinfo(peer);
  if (!problem) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = x};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, x->sock, &ev) < 0) problem = strerror(errno);
  }
  if (problem) {
    char msg[200];
    snprintf(msg, sizeof msg, "no transfer socket: %s", problem);
    finish_msg(x, "socket-error", msg);
    return;
  }
  if (x->phase == PH_OACK) send_oack(x);
  else send_window(x);
}

static void cancel(uint64_t id) {
  for (size_t i = 0; i < n_xfers; i++) {
    if (table[i]->id == id && table[i]->phase != PH_DONE) {
      finish(table[i], "cancelled", NULL, 0);
      return;
    }
  }
}

static void on_line(char *line) {
  char *f[16];
  int n = 0;
  for (char *tok = strtok(line, " "); tok && n < 16; tok = strtok(NULL, " ")) f[n++] = tok;
  if (n == 0) return;
  if (strcmp(f[0], "S") == 0 && n == 15) start(f + 1);
  else if (strcmp(f[0], "C") == 0 && n == 2) cancel(strtoull(f[1], NULL, 10));
  else fprintf(stderr, "roomcast-tftp-pump: ignored a malformed command (%d fields)\n", n);
}

// Frees what ended during the last batch and compacts the table.
static void reap(void) {
  if (!dead) return;
  size_t k = 0;
  for (size_t i = 0; i < n_xfers; i++)
    if (table[i]->phase != PH_DONE) table[k++] = table[i];
  n_xfers = k;
  while (dead) {
    struct xfer *x = dead;
    dead = x->next_dead;
    free(x->buf);
    free(x->oack);
    free(x);
  }
}

// Reads what roomcast sent and runs its complete lines. Returns an exit status when the process
// must end (0: roomcast closed our input), else -1.
static int read_commands(void) {
  static char in[IN_BYTES];
  static size_t in_len;
  ssize_t r = read(0, in + in_len, sizeof in - in_len);
  if (r == 0) return 0;
  if (r < 0) return errno == EAGAIN || errno == EINTR ? -1 : 1;
  in_len += (size_t)r;
  char *p = in, *nl;
  while ((nl = memchr(p, '\n', in_len - (size_t)(p - in)))) {
    *nl = 0;
    on_line(p);
    p = nl + 1;
  }
  in_len -= (size_t)(p - in);
  memmove(in, p, in_len);
  if (in_len == sizeof in) {
    fprintf(stderr, "roomcast-tftp-pump: command line too long\n");
    return 2;
  }
  return -1;
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  if (getppid() == 1) return 0;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return 1;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event in_ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in_ev) < 0) return 1;
  emit("R\n");
  flush_out();
  struct epoll_event events[256];
  for (;;) {
    int timeout = -1;
    if (next_scan != INT64_MAX) {
      int64_t wait = next_scan - now_ms();
      timeout = wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
    }
    int n = epoll_wait(ep, events, 256, timeout);
    if (n < 0 && errno != EINTR) return 1;
    // Commands last: what a client sent before roomcast decided (an ERROR before its new request
    // that cancels the transfer) is seen first, as the Node engine sees it.
    int commands = 0;
    for (int i = 0; i < n; i++) {
      struct xfer *x = events[i].data.ptr;
      if (!x) {
        commands = 1;
        continue;
      }
      if (x->phase == PH_DONE) continue;
      if (events[i].events & (EPOLLIN | EPOLLERR)) on_readable(x);
      if (x->phase != PH_DONE && (events[i].events & EPOLLOUT)) pump_out(x);
    }
    if (commands) {
      int rc = read_commands();
      if (rc >= 0) return rc;
    }
    if (next_scan <= now_ms()) scan_deadlines(now_ms());
    reap();
    if (out_len) flush_out();
  }
}
