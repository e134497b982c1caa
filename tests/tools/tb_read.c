/* tb_read.c — a test helper (tests/cli/tensorboard.sh): reads TensorBoard
 * event files without mtbert's writer code and prints what they hold.
 *
 *     tb_read FILE...
 *
 * Each file must be a sequence of TFRecord records
 *     uint64 length (little endian), uint32 masked CRC-32C of those 8 bytes,
 *     length bytes of data, uint32 masked CRC-32C of the data
 * with nothing left over; both CRCs are recomputed here with a bitwise
 * CRC-32C (not tb_events.c's table), and each record's data is unpacked as a
 * tensorflow.Event (protobuf-c code generated from tb_event.proto). The first
 * record must be the file_version "brain.Event:2" one; every event needs a
 * finite wall_time > 0. One line per event on stdout:
 *     file FILE
 *     version STEP brain.Event:2
 *     scalar STEP TAG VALUE          (VALUE as %.9g: float32 round-trips)
 *     session STEP START|STOP|CHECKPOINT|UNSPECIFIED
 * Exit 0, or 1 with a message naming the file and the record's offset. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/train/proto/tb_event.pb-c.h"

/* CRC-32C, reflected polynomial 0x82f63b78, bit by bit */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static uint64_t le(const uint8_t *p, int nbytes) {
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    fclose(f);
    *n = len;
    return b;
}

static const char *status_name(int s) {
    switch (s) {
    case TBEVENT__SESSION_LOG__SESSION_STATUS__START: return "START";
    case TBEVENT__SESSION_LOG__SESSION_STATUS__STOP: return "STOP";
    case TBEVENT__SESSION_LOG__SESSION_STATUS__CHECKPOINT: return "CHECKPOINT";
    default: return "UNSPECIFIED";
    }
}

/* Prints one event; 0, or -1 with a message. */
static int print_event(const char *path, size_t off, long idx, const Tbevent__Event *ev) {
    if (!isfinite(ev->wall_time) || ev->wall_time <= 0) {
        fprintf(stderr, "tb_read: %s: record at offset %zu: wall_time %g\n", path, off, ev->wall_time);
        return -1;
    }
    if ((idx == 0) != (ev->what_case == TBEVENT__EVENT__WHAT_FILE_VERSION)) {
        fprintf(stderr, "tb_read: %s: record at offset %zu: %s\n", path, off,
                idx == 0 ? "the first record is not the file_version one" : "a second file_version record");
        return -1;
    }
    long long step = (long long)ev->step;
    switch (ev->what_case) {
    case TBEVENT__EVENT__WHAT_FILE_VERSION:
        if (strcmp(ev->file_version, "brain.Event:2") != 0) {
            fprintf(stderr, "tb_read: %s: file_version '%s'\n", path, ev->file_version);
            return -1;
        }
        printf("version %lld %s\n", step, ev->file_version);
        return 0;
    case TBEVENT__EVENT__WHAT_SUMMARY:
        for (size_t i = 0; i < ev->summary->n_value; i++) {
            const Tbevent__Summary__Value *v = ev->summary->value[i];
            if (v->value_case != TBEVENT__SUMMARY__VALUE__VALUE_SIMPLE_VALUE || !v->tag || !v->tag[0] ||
                strchr(v->tag, ' ')) {
                fprintf(stderr, "tb_read: %s: record at offset %zu: value %zu has no simple_value or a bad tag\n",
                        path, off, i);
                return -1;
            }
            printf("scalar %lld %s %.9g\n", step, v->tag, (double)v->simple_value);
        }
        return 0;
    case TBEVENT__EVENT__WHAT_SESSION_LOG:
        printf("session %lld %s\n", step, status_name(ev->session_log->status));
        return 0;
    default:
        fprintf(stderr, "tb_read: %s: record at offset %zu: an event with nothing in it\n", path, off);
        return -1;
    }
}

static int read_file(const char *path) {
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (!b) {
        fprintf(stderr, "tb_read: %s: cannot read\n", path);
        return 1;
    }
    printf("file %s\n", path);
    size_t off = 0;
    long idx = 0;
    int rc = 0;
    while (off < n && rc == 0) {
        if (n - off < 12) {
            fprintf(stderr, "tb_read: %s: %zu stray bytes at offset %zu\n", path, n - off, off);
            rc = 1;
            break;
        }
        uint64_t len = le(b + off, 8);
        uint32_t hcrc = (uint32_t)le(b + off + 8, 4);
        if (masked(crc32c_bitwise(b + off, 8)) != hcrc) {
            fprintf(stderr, "tb_read: %s: record at offset %zu: length CRC mismatch\n", path, off);
            rc = 1;
            break;
        }
        if (len > n - off - 12 || n - off - 12 - len < 4) {
            fprintf(stderr, "tb_read: %s: record at offset %zu: length %llu runs past the end\n", path, off,
                    (unsigned long long)len);
            rc = 1;
            break;
        }
        const uint8_t *data = b + off + 12;
        uint32_t dcrc = (uint32_t)le(data + len, 4);
        if (masked(crc32c_bitwise(data, (size_t)len)) != dcrc) {
            fprintf(stderr, "tb_read: %s: record at offset %zu: data CRC mismatch\n", path, off);
            rc = 1;
            break;
        }
        Tbevent__Event *ev = tbevent__event__unpack(NULL, (size_t)len, data);
        if (!ev) {
            fprintf(stderr, "tb_read: %s: record at offset %zu: not a tensorflow.Event\n", path, off);
            rc = 1;
            break;
        }
        if (print_event(path, off, idx, ev)) rc = 1;
        tbevent__event__free_unpacked(ev, NULL);
        off += 12 + (size_t)len + 4;
        idx++;
    }
    if (rc == 0 && idx == 0) {
        fprintf(stderr, "tb_read: %s: empty\n", path);
        rc = 1;
    }
    free(b);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tb_read EVENT_FILE...\n");
        return 2;
    }
    /* the check itself: crc32c("123456789") */
    if (crc32c_bitwise((const uint8_t *)"123456789", 9) != 0xe3069283u) {
        fprintf(stderr, "tb_read: CRC-32C self-check failed\n");
        return 1;
    }
    for (int i = 1; i < argc; i++)
        if (read_file(argv[i])) return 1;
    return 0;
}
