/*
 * The kluis protocol (docs/PROTOCOL.md): frame I/O and message bodies,
 * shared by kluis-server and the client transports.  Pure encoders and
 * decoders plus frame read/write over caller-supplied I/O callbacks; every
 * decoder reads through struct buf, checks every limit before allocating,
 * and rejects trailing bytes (KL_E_PROTO).
 */
#ifndef KLUIS_PROTO_H
#define KLUIS_PROTO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define KL_PROTO_VERSION 3		/* PROTOCOL.md §3 HELLO, §9 */
#define KL_PROTO_MAGIC "KLUISPRT"
#define KL_PROTO_DATA_MAX ((size_t)1 << 20)		/* PROTOCOL.md §3 */
#define KL_FRAME_BODY_MAX (KL_PROTO_DATA_MAX + 64)
#define KL_FRAME_HDR_LEN 9
#define KL_PROTO_PUT_MAX ((uint64_t)128 << 20)
#define KL_PROTO_STR_MAX 4096

enum kl_msg {
	KL_MSG_HELLO = 0x01,
	KL_MSG_CREATE = 0x02,		/* PROTOCOL.md §8 */
	KL_MSG_PUT = 0x10,
	KL_MSG_PUT_DATA = 0x11,
	KL_MSG_PUT_END = 0x12,
	KL_MSG_PUT_DATED = 0x13,	/* PROTOCOL.md §3: replica role only */
	KL_MSG_GET = 0x20,
	KL_MSG_STAT = 0x21,
	KL_MSG_LIST = 0x22,
	KL_MSG_REMOVE = 0x30,
	KL_MSG_BYE = 0x3f,
	KL_MSG_OK = 0x80,
	KL_MSG_HELLO_OK = 0x81,
	KL_MSG_DATA = 0x82,
	KL_MSG_END = 0x83,
	KL_MSG_ERR = 0xff,
};

/*
 * I/O callbacks: read exactly n bytes (KL_E_CONN at end of stream or on a
 * transport error), write exactly n bytes (KL_E_CONN on error).
 */
typedef int (*kl_io_read_fn)(void *ctx, void *p, size_t n);
typedef int (*kl_io_write_fn)(void *ctx, const void *p, size_t n);

/* Writes one frame (header and body): one write call for a small frame,
 * the header and then the body in place for a large one (no copy).
 * KL_E_LIMIT if len > KL_FRAME_BODY_MAX, or w's error. */
int kl_frame_write(kl_io_write_fn w, void *ctx, uint8_t type, uint32_t id,
    const uint8_t *body, size_t len);
/*
 * Reads one frame: *type, *id, and the body into body (reset first; body
 * must have max >= KL_FRAME_BODY_MAX).  KL_E_PROTO for a length outside
 * 5..KL_FRAME_BODY_MAX + 5 (checked before reading the body), KL_E_CONN
 * when the stream ends or breaks.  *type and *id are set as soon as the
 * header was read, also when the body then cannot be.
 */
int kl_frame_read(kl_io_read_fn r, void *ctx, uint8_t *type, uint32_t *id,
    struct buf *body);
/*
 * Reads only a frame's header: *type, *id and the body's length, checked
 * as above; the caller then reads exactly *body_len bytes itself (into
 * where they are going, without a copy).
 */
int kl_frame_head_read(kl_io_read_fn r, void *ctx, uint8_t *type,
    uint32_t *id, size_t *body_len);

/*
 * Bodies.  Encoders append to out (nothing on failure); decoders parse
 * p[0, len) exactly: KL_E_PROTO for trailing or missing bytes, a NUL in a
 * string, an invalid file type or role, a bad magic or min > max;
 * KL_E_LIMIT for a string longer than its array below allows (less one
 * for the NUL) or a PUT size over KL_PROTO_PUT_MAX.
 */
struct kl_msg_hello {
	uint16_t min_version, max_version;
	char repo[KL_PROTO_STR_MAX + 1];	/* may be "" */
	char client[256];
};
int kl_msg_hello_encode(const struct kl_msg_hello *m, struct buf *out);
int kl_msg_hello_decode(const uint8_t *p, size_t len, struct kl_msg_hello *m);

/*
 * CREATE (PROTOCOL.md §8): the new repository's config (bytes32, 1 ..
 * KL_PROTO_CONFIG_MAX) followed by a HELLO body.  *cfg points into p.
 */
#define KL_PROTO_CONFIG_MAX 4096
int kl_msg_create_decode(const uint8_t *p, size_t len, const uint8_t **cfg,
    size_t *cfg_len, struct kl_msg_hello *m);

struct kl_msg_hello_ok {
	uint16_t version;
	uint8_t role;			/* enum kl_store_role */
	char server[256];
};
int kl_msg_hello_ok_encode(const struct kl_msg_hello_ok *m, struct buf *out);
int kl_msg_hello_ok_decode(const uint8_t *p, size_t len,
    struct kl_msg_hello_ok *m);

/* PUT, GET, STAT, LIST, REMOVE: a file type, a name, and numbers. */
struct kl_msg_file {
	uint8_t ftype;			/* enum kl_ftype */
	char name[72];			/* 64 hex or "config" */
	uint64_t a, b, c;		/* PUT: size; PUT_DATED: size, receive
					 * time; GET: offset, length, max */
};
int kl_msg_file_encode(uint8_t type, const struct kl_msg_file *m,
    struct buf *out);
int kl_msg_file_decode(uint8_t type, const uint8_t *p, size_t len,
    struct kl_msg_file *m);

struct kl_msg_err {
	int32_t code;			/* enum kl_err */
	char message[1024];
};
int kl_msg_err_encode(int32_t code, const char *message, struct buf *out);
int kl_msg_err_decode(const uint8_t *p, size_t len, struct kl_msg_err *m);

/*
 * LIST DATA bodies (PROTOCOL.md §3): entries (name str16, size u64,
 * mtime i64) to the end of the body; mtime is the file's receive time in
 * UTC seconds (kl_list_cb in kluis/backend.h).  The encoder appends one
 * entry (KL_E_LIMIT for a name over 71 bytes, KL_E_NOMEM).
 */
#define KL_PROTO_LIST_ENTRY_LEN(name_len) (2 + (name_len) + 8 + 8)
int kl_msg_list_put(struct buf *out, const char *name, uint64_t size,
    int64_t mtime_s);
/*
 * Iterates a LIST DATA body, calling cb(arg, name, size, mtime_s) per
 * entry in order; a non-zero return of cb stops and is returned.  Any
 * mtime is accepted (it is the server's claim).  KL_E_PROTO for a
 * truncated entry or a NUL in a name, KL_E_LIMIT for a name over 71 bytes;
 * entries before the bad one have been reported.
 */
int kl_msg_list_decode(const uint8_t *p, size_t len,
    int (*cb)(void *arg, const char *name, uint64_t size, int64_t mtime_s),
    void *arg);

/* A u64 body (STAT OK, END). */
int kl_msg_u64_decode(const uint8_t *p, size_t len, uint64_t *v);

#endif
