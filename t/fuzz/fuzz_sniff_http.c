/*
 * fuzz_sniff_http.c - libFuzzer target for sniff_http(). Besides memory
 * safety it checks the stateless contract: once a prefix of the input gets
 * a final answer, the whole input must get the same one, and any host found
 * is already normalised.
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
    } else if (r->host[0] != '\0' || r->port != 0) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tp_sniff_result  full, part;
    enum tp_sniff_rc        rc, prc;
    size_t                  cut = size / 2;

    rc = sniff_http(data, size, &full);
    check_result(rc, &full);
    prc = sniff_http(data, cut, &part);
    check_result(prc, &part);
    if (prc != TP_SNIFF_AGAIN
        && (prc != rc || strcmp(part.host, full.host) != 0
            || part.port != full.port))
    {
        abort();
    }
    return 0;
}
