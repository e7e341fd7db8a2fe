# The onboarding worker: `onboarding worker` runs the journey workflow and its vendor activities.
# Built by docker-compose.yml (`docker compose up --build`); configuration comes from the
# environment only, never from files baked into the image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN useradd --create-home --uid 10001 --user-group onboarding

WORKDIR /src
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY starter ./starter
COPY sandbox ./sandbox
COPY common ./common
COPY cli ./cli
COPY devstack ./devstack
COPY analytics ./analytics
COPY dashboard ./dashboard
RUN pip install --no-cache-dir . \
    && rm -rf /src/build /src/*.egg-info

USER onboarding
WORKDIR /home/onboarding

CMD ["onboarding", "worker"]
