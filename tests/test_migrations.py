"""`flask db upgrade` builds the schema the models describe, on SQLite and on PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from microsite import create_app
from microsite.extensions import db

pytestmark = pytest.mark.both_databases


def test_upgrade_creates_the_schema_of_the_models(database_url, tmp_path):
    from conftest import make_config

    app = create_app(make_config(database_url, tmp_path))
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        assert {"lead", "notification", "alembic_version"} <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
        db.engine.dispose()
