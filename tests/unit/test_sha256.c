/* test_sha256.c - SHA-256 against the FIPS 180-4 / NIST example vectors. */
#include <criterion/criterion.h>
#include <string.h>

#include "sha256.h"

static void check(const char *msg, size_t n, const char *want) {
    char hex[65];
    aairt_sha256_hex(msg, n, hex);
    cr_assert_str_eq(hex, want, "sha256 of %zu bytes", n);
}

Test(sha256, known_vectors) {
    check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, million_a_in_pieces) {
    AairtSha256 s;
    unsigned char d[32];
    char chunk[1001];
    memset(chunk, 'a', sizeof chunk);
    aairt_sha256_init(&s);
    for (int i = 0; i < 1000; i++) aairt_sha256_update(&s, chunk, i % 2 ? 999 : 1001);
    aairt_sha256_final(&s, d);
    static const unsigned char want[32] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
        0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    cr_assert_arr_eq(d, want, 32);
}

/* The CPU's SHA instructions (where it has them) and the portable rounds
 * agree on every block, from many starting states. */
Test(sha256, accelerated_blocks_match_portable) {
    enum { BLOCKS = 37 };
    static unsigned char data[64 * BLOCKS];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 24);
    }
    uint32_t a[8], b[8];
    for (int i = 0; i < 8; i++) a[i] = b[i] = 0x9e3779b9u * (uint32_t)(i + 1);
    aairt_sha256_blocks_portable(a, data, BLOCKS);
    if (!aairt_sha256_blocks_accelerated(b, data, BLOCKS)) {
        cr_log_info("no SHA instructions on this CPU: only the portable rounds ran");
        return;
    }
    cr_assert_arr_eq(a, b, sizeof a, "SHA-NI and portable states differ");
    aairt_sha256_blocks_portable(a, data + 64, 1);
    aairt_sha256_blocks_accelerated(b, data + 64, 1);
    cr_assert_arr_eq(a, b, sizeof a, "one more block differs");
}
