# Multi-stage build: a static binary on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The context leaves out .git: the revision `tally version` names is given
# as a build argument (docker build --build-arg REVISION=$(git rev-parse HEAD) .).
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.revision=${REVISION}" -o /out/tally ./cmd/tally
# The data directory must exist in the image, owned by the nonroot user:
# a volume mounted where the image has no directory is created root-owned,
# and the server could not write its ledger. 0700: the database holds the
# signing keys and Badger writes its files readable by all.
RUN mkdir -p -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tally /usr/local/bin/tally
COPY --from=build --chown=65532:65532 /out/data /data
# Data lives in a volume owned by the nonroot user (uid 65532).
ENV TALLY_DATA=/data TALLY_ADDR=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
# The image has no shell or curl: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s CMD ["/usr/local/bin/tally", "health"]
ENTRYPOINT ["/usr/local/bin/tally"]
CMD ["serve"]
