"""The one host validator (fedplane/api/hosts.py): what the resolver could not encode is an error at
validation, link-local addresses are refused however they are written, allow-lists match by name."""
from __future__ import annotations

import pytest

from fedplane.api.hosts import destination_refusal, host_allowed, http_url_error, normalize_host


@pytest.mark.parametrize("host, expected", [
    ("Example.COM", "example.com"), ("bücher.example", "xn--bcher-kva.example"), ("web_b", "web_b"),
    ("example.com.", "example.com"), ("2852039166", "169.254.169.254"), ("::1", "::1"),
])
def test_names_are_normalized(host, expected):
    assert normalize_host(host) == expected


@pytest.mark.parametrize("host", ["", "a..b", ".a", "a" * 64, ".".join(["a" * 63] * 4) + ".com", "-a", "a b",
                                  "xn--a", "a%2eb"])
def test_names_the_resolver_cannot_encode_are_refused(host):
    with pytest.raises(ValueError):
        normalize_host(host)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://[fe80::1]/", "http://0xa9fea9fe/",
                                 "http://169.254.43518/", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0/",
                                 "http://224.0.0.1/"])
def test_link_local_multicast_and_unspecified_addresses_are_refused_however_written(url):
    assert "link-local" in http_url_error(url)
    assert http_url_error(url, refuse_link_local=False) is None


@pytest.mark.parametrize("url", ["ftp://example.com/", "http://example.com:99999/", "example.com", "http:///x"])
def test_what_is_not_an_http_url_is_refused(url):
    assert http_url_error(url)


def test_allow_lists_match_names_and_domains():
    allowed = ["cdn.example.com", ".example.org"]
    assert host_allowed("cdn.example.com", allowed) and host_allowed("a.b.example.org", allowed)
    assert host_allowed("example.org", allowed)  # ".example.org": the domain and its subdomains
    assert not host_allowed("evil-example.org", allowed) and not host_allowed("example.com", allowed)
    assert host_allowed("anything", [])
    assert "REGIONS" in http_url_error("http://evil.net/", allowed_hosts=allowed, allow_setting="REGIONS")


def test_the_destination_check_resolves_names():
    assert destination_refusal("localhost", 80) is None
    assert "link-local" in destination_refusal("169.254.169.254", 80)
    assert "not in" in destination_refusal("localhost", 80, allowed_hosts=["example.com"])
    assert destination_refusal("no-such-host.invalid", 80) is None  # unresolvable: the connection reports it
