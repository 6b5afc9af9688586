"""What the limits suite's server runs with, and the fresh account each test works in."""
import uuid

# Besides the cloud profile: a request a second for the reads the retry tests make, and three
# secrets per region for every API.
RATES = {
    "alibaba.rate.secret-read": "1/s",
    "tencent.rate.GetSecretValue": "1/s",
    "huawei.rate.csms": "1/s",
}
SECRETS_PER_REGION = 3


class Account:
    """A fresh account with an admin key and its Huawei project in the server's region."""

    def __init__(self, server, cli):
        made = cli.json("account", "create", "limits-" + uuid.uuid4().hex[:6])
        self.id = made["AccountId"]
        self.project = made["Projects"][0]["ProjectId"]
        key = cli.json("access-key", "create", "--account", self.id, "--admin")
        self.ak, self.sk = key["AccessKeyId"], key["AccessKeySecret"]
        self.endpoint = server.endpoint
