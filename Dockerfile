# entitled: a static, cgo-free binary on an empty base image, run as a non-root user.
#   docker build -t entitled .
#   docker run -p 8080:8080 -v entitled-data:/data -e ENTITLED_BASE_URL=http://localhost:8080 entitled
# ENTITLED_BASE_URL is the URL people and services reach the container at: letters' links and the
# token issuer use it (the default, derived from ENTITLED_ADDR, is only right on the host itself).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum go.work go.work.sum ./
COPY verify/go.mod verify/go.sum verify/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/entitled ./server \
 && mkdir -p /out/data

FROM scratch
# CA roots for smtps:// and STARTTLS; nothing else is needed by a static Go binary.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/entitled /entitled
COPY --from=build --chown=65532:65532 /out/data /data
ENV ENTITLED_DATA_DIR=/data \
    ENTITLED_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/entitled", "healthcheck"]
ENTRYPOINT ["/entitled"]
CMD ["serve"]
