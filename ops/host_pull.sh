# shellcheck shell=bash
# Shared by the host scripts (included by ops/hostscript.py): log in to the registry with the read-only token
# from SSM Parameter Store and pull IMAGE. The token reaches only docker's stdin and a login folder in memory,
# which is removed right after the pull and, by the EXIT trap, on any earlier exit. Uses the values REGISTRY,
# REGISTRY_USER, AWS_REGION, TOKEN_PARAMETER and IMAGE.

# A signal ends the script through `exit`, so that the EXIT trap runs.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

login_dir=""

memory_dir() {
  local dir
  for dir in /dev/shm /run; do
    if [[ -d $dir && -w $dir && $(stat -f -c %T "$dir") == tmpfs ]]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

forget_login() {
  if [[ -n $login_dir ]]; then
    rm -rf -- "$login_dir"
  fi
}

pull_image() {
  local memory
  if ! memory=$(memory_dir); then
    echo "no writable tmpfs at /dev/shm or /run for the registry login; refusing to put the token on disk" >&2
    exit 1
  fi
  trap forget_login EXIT
  login_dir=$(mktemp -d "$memory/ai-drug-login.XXXXXX")

  echo "logging in to $REGISTRY with the token in $TOKEN_PARAMETER"
  if ! aws ssm get-parameter --region "$AWS_REGION" --name "$TOKEN_PARAMETER" --with-decryption \
    --query Parameter.Value --output text |
    DOCKER_CONFIG=$login_dir docker login --username "$REGISTRY_USER" --password-stdin "$REGISTRY" >/dev/null; then
    echo "login to $REGISTRY failed: check the parameter $TOKEN_PARAMETER and the instance role's access to it" >&2
    exit 1
  fi

  echo "pulling $IMAGE"
  DOCKER_CONFIG=$login_dir docker pull --quiet "$IMAGE" || exit
  forget_login
  trap - EXIT
}
