# One image for web, worker and migrate.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY crm ./crm
COPY listeners ./listeners
COPY scoring ./scoring
COPY outreach ./outreach
RUN pip install --no-cache-dir --no-deps . && useradd --create-home warmline && mkdir -p /data && chown warmline /data
USER warmline
ENV CRM_DATA_DIR=/data CRM_HOST=0.0.0.0 CRM_LOG_FORMAT=json
EXPOSE 8000
CMD ["crm", "serve"]
