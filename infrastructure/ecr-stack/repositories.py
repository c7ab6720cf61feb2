"""One ECR repository per Lambda: scanned on push, immutable tags, only the last N images kept."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class RepositoriesArgs:
    repository_names: dict[str, str]  # function key (scanner, ...) -> repository name
    keep_images: int
    force_delete: bool
    account_id: str
    region: str
    partition: str


def lifecycle_policy(keep_images: int) -> str:
    """Untagged leftovers go after a day; of the rest, the newest ``keep_images`` stay."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images (failed or superseded pushes)",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 1,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the last {keep_images} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def lambda_pull_policy(account_id: str, region: str, partition: str) -> str:
    """Lets the Lambda service pull for this account's functions only (what the console adds by hand)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LambdaECRImageRetrievalPolicy",
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Condition": {
                        "StringLike": {
                            "aws:sourceArn": f"arn:{partition}:lambda:{region}:{account_id}:function:*"
                        }
                    },
                }
            ],
        }
    )


class Repositories(pulumi.ComponentResource):
    urls: dict[str, pulumi.Output[str]]
    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: RepositoriesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("labkit:ecr:Repositories", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.urls, self.arns = {}, {}
        for key, repo_name in args.repository_names.items():
            repo = aws.ecr.Repository(
                key,
                name=repo_name,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "AES256"}],
                force_delete=args.force_delete,
                opts=child,
            )
            aws.ecr.LifecyclePolicy(
                f"{key}-lifecycle",
                repository=repo.name,
                policy=lifecycle_policy(args.keep_images),
                opts=child,
            )
            aws.ecr.RepositoryPolicy(
                f"{key}-lambda-pull",
                repository=repo.name,
                policy=lambda_pull_policy(args.account_id, args.region, args.partition),
                opts=child,
            )
            self.urls[key] = repo.repository_url
            self.arns[key] = repo.arn
        self.register_outputs({"urls": self.urls, "arns": self.arns})
