"""ECR stack: the image repositories the lab stack's Lambdas pull from.

Repository names are labkit's function names (labkit.config.ResourceNames), so the images, the functions
and the local target share one naming source.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from repositories import Repositories, RepositoriesArgs

from labkit.config import load_config

config = pulumi.Config()
identity = aws.get_caller_identity()
region = aws.get_region()
partition = aws.get_partition()
# the account and Region of the provider: labkit's names need no lookup of their own
lab = load_config(
    target="aws", project=config.get("labProject"), account_id=identity.account_id, region=region.region
)
names = lab.names

repositories = Repositories(
    "lambda-images",
    RepositoriesArgs(
        repository_names={
            "scanner": names.scanner,
            "detector": names.detector,
            "downloader": names.downloader,
        },
        keep_images=config.get_int("keepImages") or 10,
        force_delete=config.get_bool("forceDelete", True),
        account_id=identity.account_id,
        region=region.region,
        partition=partition.partition,
    ),
)

pulumi.export("labProject", lab.project)
pulumi.export("repositoryUrls", repositories.urls)
pulumi.export("repositoryArns", repositories.arns)
for key, url in repositories.urls.items():
    pulumi.export(f"{key}RepositoryUrl", url)
