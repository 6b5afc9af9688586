"""Version stages (UpdateSecretVersionStage, PutSecretValue labels) and the 10-version cap,
through every SDK flavour."""
import json

from coffer_helpers import expect_error, secret_value, stages, wrapped_list


def versions(api, name, include_deprecated=True):
    r = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true" if include_deprecated else None,
                 PageSize=100)
    return {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")}


def setup_three(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value("1"))
    api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData=secret_value("2"))
    api.call("PutSecretValue", SecretName=name, VersionId="v3", SecretData=secret_value("3"))
    assert versions(api, name) == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}


def test_add_move_and_remove_custom_label(api, name):
    setup_three(api, name)
    # add (MoveToVersion only)
    r = api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="beta", MoveToVersion="v1")
    assert r["SecretName"] == name and r["RequestId"]
    assert versions(api, name)["v1"] == ["beta"]
    # move (both)
    api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="beta", RemoveFromVersion="v1",
             MoveToVersion="v2")
    assert versions(api, name) == {"v1": [], "v2": ["ACSPrevious", "beta"], "v3": ["ACSCurrent"]}
    assert api.call("GetSecretValue", SecretName=name, VersionStage="beta")["VersionId"] == "v2"
    # remove (RemoveFromVersion only)
    api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="beta", RemoveFromVersion="v2")
    assert versions(api, name) == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("GetSecretValue", SecretName=name, VersionStage="beta")


def test_move_acscurrent_takes_acsprevious_along(api, name):
    setup_three(api, name)
    api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", RemoveFromVersion="v3",
             MoveToVersion="v1")
    assert versions(api, name) == {"v1": ["ACSCurrent"], "v2": [], "v3": ["ACSPrevious"]}
    assert api.call("GetSecretValue", SecretName=name)["VersionId"] == "v1"


def test_acscurrent_cannot_just_be_removed(api, name):
    setup_three(api, name)
    with expect_error(400, "InvalidParameter"):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", RemoveFromVersion="v3")
    assert versions(api, name)["v3"] == ["ACSCurrent"]


def test_remove_from_version_must_carry_the_label(api, name):
    setup_three(api, name)
    api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="gamma", MoveToVersion="v2")
    with expect_error(400, "InvalidParameter"):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="gamma", RemoveFromVersion="v1",
                 MoveToVersion="v3")
    assert versions(api, name)["v2"] == ["ACSPrevious", "gamma"]


def test_unknown_version_is_not_found(api, name):
    setup_three(api, name)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="delta", MoveToVersion="v99")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("UpdateSecretVersionStage", SecretName="no-such-" + name, VersionStage="delta",
                 MoveToVersion="v1")


def test_update_version_stage_needs_a_version(api, name):
    setup_three(api, name)
    # At least one of MoveToVersion and RemoveFromVersion is required: a required parameter
    # absent is 400 MissingParameter (KMS common errors), naming it.
    with expect_error(400, "MissingParameter", "MoveToVersion"):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="delta")


def test_put_with_custom_label_moves_it_from_other_version(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value("1"))
    api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData=secret_value("2"),
             VersionStages=json.dumps(["pinned"]))
    api.call("PutSecretValue", SecretName=name, VersionId="v3", SecretData=secret_value("3"),
             VersionStages=json.dumps({"VersionStage": ["pinned", "ACSCurrent"]}))
    assert versions(api, name) == {"v1": ["ACSPrevious"], "v2": [], "v3": ["ACSCurrent", "pinned"]}


def test_oldest_unlabelled_versions_are_pruned(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v0", SecretData=secret_value("0"))
    for i in range(1, 12):
        api.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretData=secret_value(str(i)))
    listed = versions(api, name)
    assert sorted(listed, key=lambda v: int(v[1:])) == ["v%d" % i for i in range(2, 12)]
    assert listed["v11"] == ["ACSCurrent"] and listed["v10"] == ["ACSPrevious"]
    for gone in ("v0", "v1"):
        with expect_error(404, "Forbidden.ResourceNotFound"):
            api.call("GetSecretValue", SecretName=name, VersionId=gone)
    assert api.call("GetSecretValue", SecretName=name, VersionId="v2")["VersionId"] == "v2"


def test_labelled_versions_survive_pruning(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v0", SecretData=secret_value("0"))
    api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="keep", MoveToVersion="v0")
    for i in range(1, 12):
        api.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretData=secret_value(str(i)))
    listed = versions(api, name)
    assert len(listed) == 10, listed
    assert listed["v0"] == ["keep"]
    assert "v1" not in listed and "v2" not in listed and "v3" in listed


def test_stage_label_limit(api, name):
    # 8 stage labels per secret, ACSCurrent among them: 7 custom labels fit, the next is
    # 400 Rejected.LimitExceeded and changes nothing.
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    for i in range(7):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="label%d" % i, MoveToVersion="v1")
    with expect_error(400, "Rejected.LimitExceeded"):
        api.call("UpdateSecretVersionStage", SecretName=name, VersionStage="label7", MoveToVersion="v1")
    assert len(versions(api, name)["v1"]) == 8
