using System.Text;
using Dapper;
using Npgsql;

namespace Aurous.Api.Chat;

/// <summary>The stored chat completions GET /v1/chat/completions/{id} returns: one JSON body per completion, per team.</summary>
public sealed class ChatCompletionStore(NpgsqlDataSource db, ILogger<ChatCompletionStore> log)
{
    /// <summary>
    /// Stores the completion as last rendered. Best effort and not cancellable: the response is served either way, so a
    /// database error is logged, not thrown.
    /// </summary>
    public async Task SaveAsync(ChatCompletion completion, string teamId, string requestId, string model)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            await conn.ExecuteAsync(
                "INSERT INTO chat_completions (id, team_id, request_id, model, body) VALUES (@id, @team, @req, @model, @body::jsonb)",
                new { id = completion.Id, team = teamId, req = requestId, model, body = completion.StoredJson ?? Encoding.UTF8.GetString(completion.RenderJson(null)) });
        }
        catch (NpgsqlException ex)
        {
            log.LogError(ex, "Could not store chat completion {Id}", completion.Id);
        }
    }

    /// <summary>The stored body of the team's completion <paramref name="id"/>; null when there is none.</summary>
    public async Task<string?> FindAsync(string teamId, string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT body::text FROM chat_completions WHERE id = @id AND team_id = @team", new { id, team = teamId }, cancellationToken: ct));
    }
}
