"""Shared by the AWS suite's tests and fixtures: the account id and region the suite's server uses,
boto3 client factories, fresh names, and `expect` for AWS errors."""
import secrets

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"


def make_sm(server, ak=None, sk=None, region=REGION, validate=True, token=None, retries=0):
    return boto3.client(
        "secretsmanager",
        endpoint_url="http://%s" % server.endpoint,
        region_name=region,
        aws_access_key_id=ak or server.ak,
        aws_secret_access_key=sk or server.sk,
        aws_session_token=token,
        config=Config(parameter_validation=validate, retries={"max_attempts": retries + 1, "mode": "standard"}),
    )


def name(prefix="t"):
    return "%s-%s" % (prefix, secrets.token_hex(5))


class expect:
    """`with expect("ResourceNotFoundException", 400, "can't find"):` around a boto3 call."""

    def __init__(self, code, status=400, *parts):
        self.code, self.status, self.parts = code, status, parts

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        assert exc_type is not None, "expected %s, the call succeeded" % self.code
        assert issubclass(exc_type, ClientError), exc
        err = exc.response["Error"]
        assert err["Code"] == self.code, exc.response
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == self.status, exc.response
        for p in self.parts:
            assert p in err["Message"], err["Message"]
        self.error = err
        return True
