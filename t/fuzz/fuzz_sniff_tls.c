/*
 * fuzz_sniff_tls.c - libFuzzer target for sniff_tls() and
 * sniff_tls_client_hello(). Besides memory safety it checks the stateless
 * contract (a final answer for a prefix stays final for the whole input)
 * and that any host found is already normalised.
 */
#include "../../src/tproxyd.h"

#include <stdlib.h>

#include "../../modules/sniff_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_result(enum tp_sniff_rc rc, const struct tp_sniff_result *r)
{
    char    copy[sizeof(r->host)];

    if (memchr(r->host, '\0', sizeof(r->host)) == NULL
        || memchr(r->proto, '\0', sizeof(r->proto)) == NULL)
    {
        abort();
    }
    if (rc == TP_SNIFF_FOUND) {
        memcpy(copy, r->host, sizeof(copy));
        if (!sniff_host_normalise(copy) || strcmp(copy, r->host) != 0) {
            abort();
        }
    } else if (r->host[0] != '\0') {
        abort();
    }
}

static void
check_prefix(enum tp_sniff_rc (*fn)(const uint8_t *, size_t,
    struct tp_sniff_result *), const uint8_t *data, size_t size)
{
    struct tp_sniff_result  full, part;
    enum tp_sniff_rc        rc, prc;

    rc = fn(data, size, &full);
    check_result(rc, &full);
    prc = fn(data, size / 2, &part);
    check_result(prc, &part);
    if (prc != TP_SNIFF_AGAIN
        && (prc != rc || strcmp(part.host, full.host) != 0
            || part.ech != full.ech))
    {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_prefix(sniff_tls, data, size);
    check_prefix(sniff_tls_client_hello, data, size);
    return 0;
}
