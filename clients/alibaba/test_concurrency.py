"""Bounded concurrent use of one server (8 workers, a few dozen requests)."""
from concurrent.futures import ThreadPoolExecutor

from coffer_helpers import ApiError, Gen2, secret_value, stages, unique, wrapped_list


def client(coffer):
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk)


def test_concurrent_creates_and_reads(coffer):
    items = [(unique("cc"), secret_value("cc%d" % i)) for i in range(16)]

    def work(item):
        g = client(coffer)
        g.call("CreateSecret", SecretName=item[0], VersionId="v1", SecretData=item[1])
        return g.call("GetSecretValue", SecretName=item[0])["SecretData"]

    with ThreadPoolExecutor(8) as ex:
        assert list(ex.map(work, items)) == [v for _, v in items]


def test_concurrent_puts_keep_stages_consistent(coffer, name):
    client(coffer).call("CreateSecret", SecretName=name, VersionId="v0", SecretData=secret_value("0"))
    values = {"p%d" % i: secret_value("p%d" % i) for i in range(8)}

    def put(vid):
        client(coffer).call("PutSecretValue", SecretName=name, VersionId=vid, SecretData=values[vid])

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(put, values))
    g = client(coffer)
    r = g.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=100)
    listed = {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")}
    assert set(listed) == {"v0"} | set(values)
    holders = {label: [v for v, ls in listed.items() if label in ls] for label in ("ACSCurrent", "ACSPrevious")}
    assert len(holders["ACSCurrent"]) == 1 and len(holders["ACSPrevious"]) == 1, listed
    cur = g.call("GetSecretValue", SecretName=name)
    assert cur["VersionId"] == holders["ACSCurrent"][0]
    assert cur["SecretData"] == values[cur["VersionId"]]


def test_concurrent_create_same_name_exactly_one_wins(coffer, name):
    def create(i):
        try:
            client(coffer).call("CreateSecret", SecretName=name, VersionId="v%d" % i, SecretData=secret_value())
            return "ok"
        except ApiError as e:
            return (e.status, e.code)

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(create, range(8)))
    assert results.count("ok") == 1, results
    assert all(r == (409, "Rejected.ResourceExist") for r in results if r != "ok"), results
