using Aurous.Persistence;
using Npgsql;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class SchemaMigratorTests(ApiFixture fixture)
{
    [Fact]
    public async Task Concurrent_migrations_of_a_new_database_apply_each_version_exactly_once()
    {
        var database = "migrate_" + Guid.NewGuid().ToString("N")[..10];
        var admin = new NpgsqlConnectionStringBuilder(fixture.System.ConnectionString("postgres"));
        await using (var create = fixture.System.Database.CreateCommand($"CREATE DATABASE {database}"))
        {
            await create.ExecuteNonQueryAsync();
        }
        var target = new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = database, Pooling = false }.ConnectionString;

        var runs = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => SchemaMigrator.MigrateAsync(target))));

        runs.SelectMany(r => r).Order().ShouldBe(SchemaMigrator.All.Select(m => m.Version).Order());
        (await SchemaMigrator.MigrateAsync(target)).ShouldBeEmpty();

        await using var conn = new NpgsqlConnection(target);
        await conn.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM schema_migrations", conn);
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(SchemaMigrator.All.Count);
    }
}
