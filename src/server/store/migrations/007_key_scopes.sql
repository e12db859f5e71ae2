-- Access-key scopes (domain::scope), space-separated; NULL: full access as in CodePush.
ALTER TABLE access_keys ADD COLUMN scopes TEXT;
