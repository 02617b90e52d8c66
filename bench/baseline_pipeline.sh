#!/usr/bin/env bash
# The baseline: what a hand-written CI job does for a push, one service after another.
#
#   baseline_pipeline.sh SOURCE_URL COMMIT CHECKOUT GITOPS REGISTRY TRIVY TRIVY_CACHE \
#       SERVICE=CONTEXT=MANIFEST...
#
# Fetches COMMIT of SOURCE_URL into the git repository CHECKOUT, then for each service:
# docker build (BuildKit, as Shipline builds: $DOCKER names a CLI that has it, see
# bench/docker_cli.py; RUN steps without a network, as Shipline runs them unless a service
# asks for one) tagged sha-<7> and latest with the
# revision label, docker push of both tags, trivy on the image (secret scanner, offline,
# as Shipline's scanner runs it), the manifest's image line edited with sed in the gitops
# clone GITOPS, git commit and git push. Every command gets an argument list (no eval).
set -euo pipefail

if (($# < 8)); then
    echo "usage: $0 SOURCE_URL COMMIT CHECKOUT GITOPS REGISTRY TRIVY TRIVY_CACHE SERVICE=CONTEXT=MANIFEST..." >&2
    exit 2
fi
source_url=$1 commit=$2 checkout=$3 gitops=$4 registry=$5 trivy=$6 trivy_cache=$7
shift 7
tag="sha-${commit:0:7}"
docker=${DOCKER:-docker}
export DOCKER_BUILDKIT=1 TRIVY_INSECURE=true

git -C "$checkout" fetch --quiet "$source_url" "$commit"
git -C "$checkout" -c advice.detachedHead=false checkout --quiet --detach "$commit"
git -C "$gitops" pull --quiet --rebase origin main

for spec in "$@"; do
    IFS='=' read -r service context manifest <<<"$spec"
    image="$registry/$service"
    "$docker" build --quiet --network=none \
        --label "org.opencontainers.image.revision=$commit" \
        --label "org.opencontainers.image.source=$source_url" \
        --tag "$image:$tag" --tag "$image:latest" \
        --file "$checkout/$context/Dockerfile" "$checkout/$context" >/dev/null
    "$docker" push --quiet "$image:$tag" >/dev/null
    "$docker" push --quiet "$image:latest" >/dev/null
    "$trivy" image --quiet --format json --scanners secret --image-src remote \
        --cache-dir "$trivy_cache" --skip-db-update --skip-java-db-update \
        --skip-check-update --offline-scan --exit-code 1 "$image:$tag" >/dev/null
    sed -i -E "s#^([[:space:]]*image:[[:space:]]*)[^[:space:]]+#\\1$image:$tag#" "$gitops/$manifest"
    git -C "$gitops" commit --quiet -m "chore($service): deploy $image:$tag [skip ci]" -- "$manifest"
    git -C "$gitops" push --quiet origin HEAD:main
done
