# Lambda container images: build them, push them to the ECR stack's repositories, pin the versions in the
# lab stack's config. Included from the top Makefile; also usable alone:
#   make -f infrastructure/images.mk build-and-push-versioned VERSION=v1.0.0
# Variables (override on the command line): VERSION, IMG_TAG, IMG_STACK, IMG_PLATFORM, IMG_PREFIX.
# A self-managed Pulumi backend (pulumi login --local, s3://...) needs PULUMI_CONFIG_PASSPHRASE or
# PULUMI_CONFIG_PASSPHRASE_FILE exported (make cannot answer the prompt); pulumi inherits them from here.
# See LAMBDA-VERSIONING.md for the release and roll-back procedure.

IMG_MK := $(lastword $(MAKEFILE_LIST))
IMG_FUNCTIONS := scanner detector downloader
IMG_PREFIX ?= labkit
IMG_PLATFORM ?= linux/amd64
# Lambda rejects the attestation manifests BuildKit adds by default: no provenance.
IMG_BUILD_FLAGS ?= --platform $(IMG_PLATFORM) --provenance=false
# ECR tags are immutable: every push needs a new tag (a version, else the commit).
IMG_TAG ?= $(or $(VERSION),$(shell git describe --tags --always --dirty 2>/dev/null),dev)
IMG_STACK ?= dev
IMG_DOCKER ?= docker
IMG_PULUMI ?= pulumi
IMG_AWS ?= aws
ECR_STACK_DIR ?= infrastructure/ecr-stack
ECR_LAB_STACK_DIR ?= infrastructure/aurora-log-backup-lab-stack
IMG_SEMVER := ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$

# The repository URL of function $* from the ECR stack, in the recipe's shell (so `make -n` shows it).
ECR_URL_OF = $(IMG_PULUMI) stack output --cwd $(ECR_STACK_DIR) --stack $(IMG_STACK) $(1)RepositoryUrl

.PHONY: build get-ecr-urls push-images clean-images update-pulumi-config build-and-push-versioned \
	version-info img-need-docker img-need-pulumi img-need-aws img-check-version img-ecr-login img-lab-stack \
	img-need-passphrase

# --- guards: a clear message instead of a tool's stack trace ------------------------------------------
img-need-docker:
	@command -v $(IMG_DOCKER) >/dev/null 2>&1 || { echo "images.mk: docker not found: install Docker Engine (https://docs.docker.com/engine/install/) to build the Lambda images" >&2; exit 1; }
	@$(IMG_DOCKER) info >/dev/null 2>&1 || { echo "images.mk: docker is installed but its daemon is not reachable: start it (sudo systemctl start docker) or check DOCKER_HOST" >&2; exit 1; }

img-need-pulumi:
	@command -v $(IMG_PULUMI) >/dev/null 2>&1 || { echo "images.mk: pulumi not found: install the CLI (curl -fsSL https://get.pulumi.com | sh), then log in (pulumi login, or pulumi login --local)" >&2; exit 1; }

# Stacks on a self-managed backend encrypt secrets with a passphrase unless their stack file names another
# secrets provider (awskms://, ...): stop before pulumi would wait for a prompt nobody can answer.
img-need-passphrase: img-need-pulumi
	@backend="$${PULUMI_BACKEND_URL:-$$($(IMG_PULUMI) whoami --verbose 2>/dev/null | sed -n 's/^Backend URL: *//p')}"; \
	case "$$backend" in file://*|s3://*|gs://*|azblob://*) ;; *) exit 0;; esac; \
	[ -z "$$PULUMI_CONFIG_PASSPHRASE$$PULUMI_CONFIG_PASSPHRASE_FILE" ] || exit 0; \
	for dir in $(ECR_STACK_DIR) $(ECR_LAB_STACK_DIR); do \
	  provider=$$(sed -n 's/^secretsprovider: *//p' "$$dir/Pulumi.$(IMG_STACK).yaml" 2>/dev/null); \
	  if [ -z "$$provider" ] || [ "$$provider" = passphrase ]; then \
	    echo "images.mk: pulumi backend $$backend encrypts stack $(IMG_STACK) with a passphrase and make cannot prompt for it: export PULUMI_CONFIG_PASSPHRASE=<passphrase> or PULUMI_CONFIG_PASSPHRASE_FILE=<file holding it>" >&2; exit 1; \
	  fi; \
	done

img-need-aws:
	@command -v $(IMG_AWS) >/dev/null 2>&1 || { echo "images.mk: aws CLI not found: install it (pip install awscli, or https://aws.amazon.com/cli/)" >&2; exit 1; }
	@$(IMG_AWS) sts get-caller-identity >/dev/null 2>&1 || { echo "images.mk: no usable AWS credentials: run aws configure or aws sso login, or export AWS_PROFILE" >&2; exit 1; }

img-check-version:
	@[ -n "$(VERSION)" ] || { echo "images.mk: VERSION is required, e.g. make build-and-push-versioned VERSION=v1.0.0" >&2; exit 1; }
	@echo "$(VERSION)" | grep -Eq '$(IMG_SEMVER)' || { echo "images.mk: VERSION=$(VERSION) is not a semantic version such as v1.2.3" >&2; exit 1; }

# --- targets -----------------------------------------------------------------------------------------
build: $(addprefix img-build-,$(IMG_FUNCTIONS))

img-build-%: img-need-docker
	$(IMG_DOCKER) build $(IMG_BUILD_FLAGS) -f lambdas/$*/Dockerfile -t $(IMG_PREFIX)/$*:$(IMG_TAG) .

get-ecr-urls: img-need-passphrase
	$(IMG_PULUMI) stack output --cwd $(ECR_STACK_DIR) --stack $(IMG_STACK) repositoryUrls --json

img-ecr-login: img-need-docker img-need-passphrase img-need-aws
	@url=$$($(call ECR_URL_OF,scanner)) || { echo "images.mk: no ECR stack outputs: deploy $(ECR_STACK_DIR) first (pulumi up)" >&2; exit 1; }; \
	registry=$${url%%/*}; region=$$(echo "$$registry" | cut -d. -f4); \
	$(IMG_AWS) ecr get-login-password --region "$$region" | $(IMG_DOCKER) login --username AWS --password-stdin "$$registry"

push-images: $(addprefix img-push-,$(IMG_FUNCTIONS))

img-push-%: img-ecr-login
	@url=$$($(call ECR_URL_OF,$*)) || exit 1; \
	echo "images.mk: pushing $$url:$(IMG_TAG)"; \
	$(IMG_DOCKER) tag $(IMG_PREFIX)/$*:$(IMG_TAG) "$$url:$(IMG_TAG)" && $(IMG_DOCKER) push "$$url:$(IMG_TAG)"

update-pulumi-config: $(addprefix img-config-,$(IMG_FUNCTIONS))

# The lab stack may not exist yet on the first release (images are pushed before its first `pulumi up`).
img-lab-stack: img-need-passphrase
	$(IMG_PULUMI) stack select --cwd $(ECR_LAB_STACK_DIR) --create $(IMG_STACK)

img-config-%: img-lab-stack
	$(IMG_PULUMI) config set --cwd $(ECR_LAB_STACK_DIR) --stack $(IMG_STACK) $*ImageTag $(IMG_TAG)

# Sequential on purpose (even under -j): build all, push all, then point the stack at the new tag.
build-and-push-versioned: img-check-version img-need-docker img-need-passphrase img-need-aws
	$(MAKE) --no-print-directory -f $(IMG_MK) build IMG_TAG=$(VERSION)
	$(MAKE) --no-print-directory -f $(IMG_MK) push-images IMG_TAG=$(VERSION)
	$(MAKE) --no-print-directory -f $(IMG_MK) update-pulumi-config IMG_TAG=$(VERSION)
	@echo "images.mk: $(VERSION) pushed and set in stack $(IMG_STACK); deploy with: pulumi up --cwd $(ECR_LAB_STACK_DIR) --stack $(IMG_STACK)"

version-info: img-need-passphrase img-need-aws
	@echo "Image tags configured in stack $(IMG_STACK) ($(ECR_LAB_STACK_DIR)):"
	@for fn in $(IMG_FUNCTIONS); do \
	  printf '  %-10s %s\n' "$$fn" "$$($(IMG_PULUMI) config get --cwd $(ECR_LAB_STACK_DIR) --stack $(IMG_STACK) $${fn}ImageTag 2>/dev/null || echo '(unset)')"; \
	done
	@for fn in $(IMG_FUNCTIONS); do \
	  url=$$($(IMG_PULUMI) stack output --cwd $(ECR_STACK_DIR) --stack $(IMG_STACK) $${fn}RepositoryUrl 2>/dev/null) || { echo "  (no ECR stack outputs)"; break; }; \
	  name=$${url#*/}; region=$$(echo "$${url%%/*}" | cut -d. -f4); \
	  echo "$$name: newest images in ECR (tag, pushed, scan status):"; \
	  $(IMG_AWS) ecr describe-images --region "$$region" --repository-name "$$name" --output text \
	    --query 'reverse(sort_by(imageDetails,&imagePushedAt))[:5].[imageTags[0],imagePushedAt,imageScanStatus.status]' | sed 's/^/    /'; \
	  printf '  live alias -> version %s\n' "$$($(IMG_AWS) lambda get-alias --region "$$region" --function-name "$$name" --name live --query FunctionVersion --output text 2>/dev/null || echo '(no function yet)')"; \
	done

# Local images only; no docker (CI) is not an error here, so `make clean` works everywhere.
clean-images:
	@if ! command -v $(IMG_DOCKER) >/dev/null 2>&1; then echo "images.mk: docker not found: no local images to remove"; \
	elif ! $(IMG_DOCKER) info >/dev/null 2>&1; then echo "images.mk: docker daemon not reachable: local images left alone"; \
	else ids=$$($(IMG_DOCKER) images -q --filter 'reference=$(IMG_PREFIX)/*' | sort -u); \
	  if [ -n "$$ids" ]; then $(IMG_DOCKER) rmi -f $$ids; else echo "images.mk: no $(IMG_PREFIX)/* images to remove"; fi; \
	fi
