"""access tables: staff, institutions, sessions, SMS codes, e-vouchers, OAuth apps; audit log append-only

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

The audit log becomes append-only in the database itself: UPDATE is refused on both
backends, DELETE on PostgreSQL (SQLite keeps DELETE so that ``yibao demo --reset`` can empty
a demo file; PostgreSQL empties tables with TRUNCATE, which the trigger does not cover).
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.BigInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('full', 'password_change')", name=op.f('ck_auth_sessions_purpose')),
    sa.CheckConstraint("subject_kind IN ('person', 'staff')", name=op.f('ck_auth_sessions_subject_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_sessions_token_hash'))
    )
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_auth_sessions_subject', ['subject_kind', 'subject_id'], unique=False)

    op.create_table('institutions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("kind IN ('pharmacy', 'hospital')", name=op.f('ck_institutions_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institutions')),
    sa.UniqueConstraint('api_key_hash', name=op.f('uq_institutions_api_key_hash')),
    sa.UniqueConstraint('code', name=op.f('uq_institutions_code'))
    )
    op.create_table('oauth_clients',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('client_id', name=op.f('uq_oauth_clients_client_id'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('secret_hash', sa.String(length=256), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'auditor')", name=op.f('ck_staff_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.create_table('evouchers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('issued_to', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_evouchers_person_id_persons')),
    sa.ForeignKeyConstraint(['used_by'], ['institutions.id'], name=op.f('fk_evouchers_used_by_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evouchers')),
    sa.UniqueConstraint('nonce_hash', name=op.f('uq_evouchers_nonce_hash'))
    )
    op.create_table('oauth_grants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('client_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['oauth_clients.id'], name=op.f('fk_oauth_grants_client_id_oauth_clients')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_oauth_grants_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_grants'))
    )
    with op.batch_alter_table('oauth_grants', schema=None) as batch_op:
        batch_op.create_index('ix_oauth_grants_person_client', ['person_id', 'client_id'], unique=False)

    op.create_table('sms_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_sms_codes_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_codes'))
    )
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.create_index('ix_sms_codes_person_created', ['person_id', 'created_at'], unique=False)

    op.create_table('oauth_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('grant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('redirect_uri', sa.String(length=500), nullable=False),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], name=op.f('fk_oauth_codes_grant_id_oauth_grants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_codes_code_hash'))
    )
    op.create_table('oauth_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_token_hash', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.String(length=200), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('access_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refresh_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['oauth_grants.id'], name=op.f('fk_oauth_tokens_grant_id_oauth_grants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_oauth_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_oauth_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_tokens_grant_id'), ['grant_id'], unique=False)

    _make_audit_log_append_only()


def _make_audit_log_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only" + (" ON audit_log" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_grant_id'))

    op.drop_table('oauth_tokens')
    op.drop_table('oauth_codes')
    with op.batch_alter_table('sms_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_codes_person_created')

    op.drop_table('sms_codes')
    with op.batch_alter_table('oauth_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_grants_person_client')

    op.drop_table('oauth_grants')
    op.drop_table('evouchers')
    op.drop_table('staff_users')
    op.drop_table('oauth_clients')
    op.drop_table('institutions')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_sessions_subject')

    op.drop_table('auth_sessions')
