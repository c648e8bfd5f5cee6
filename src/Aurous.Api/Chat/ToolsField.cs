using Aurous.Inference.Contracts;

namespace Aurous.Api.Chat;

/// <summary>The tool-calling fields of a chat completion request.</summary>
public static class ToolsField
{
    private static readonly HashSet<string> FunctionFields = ["name", "description", "parameters", "strict"];

    /// <summary>
    /// <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>: the definitions to render into the prompt, and
    /// what the worker must enforce (null: no calls, either no tools or <c>tool_choice: "none"</c>). A named function
    /// choice sends only that function, as required. The parameter schemas are compiled (and refused with
    /// <c>unsupported_schema</c>) by the worker, whose constrained decoder enforces them.
    /// </summary>
    public static (IReadOnlyList<JsonElement>? Definitions, WorkerToolChoice? Choice, ApiError? Error) Parse(JsonElement body)
    {
        var toolsError = JsonFields.Optional(body, "tools", "an array", out var toolsValue, JsonValueKind.Array);
        var choiceError = JsonFields.Optional(body, "tool_choice", "a string or an object", out var choiceValue, JsonValueKind.String, JsonValueKind.Object);
        var parallelError = JsonFields.OptionalBoolean(body, "parallel_tool_calls", out var parallel);
        if ((toolsError ?? choiceError ?? parallelError) is { } typeError)
        {
            return (null, null, typeError);
        }
        var hasChoice = choiceValue is not null;
        var choice = choiceValue.GetValueOrDefault();
        if (toolsValue is not { } toolsElement)
        {
            return hasChoice ? Error("invalid_tool_choice", "'tool_choice' is only allowed when 'tools' are specified.") : (null, null, null);
        }
        if (toolsElement.GetArrayLength() is 0 or > ChatLimits.MaxTools)
        {
            return Error("invalid_tools", $"'tools' must be an array of 1 to {ChatLimits.MaxTools} {{\"type\": \"function\", \"function\": {{...}}}} objects.");
        }
        var definitions = new List<JsonElement>();
        var workerTools = new List<InternalTool>();
        var i = 0;
        foreach (var tool in toolsElement.EnumerateArray())
        {
            var where = $"tools[{i++}]";
            if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
            {
                return Error("invalid_tools", $"{where}.type must be \"function\".");
            }
            if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                return Error("invalid_tools", $"{where}.function is required: {{\"name\": \"...\", \"description\": \"...\", \"parameters\": {{...}}}}.");
            }
            if (tool.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n is not ("type" or "function")) is { } extra)
            {
                return Error("invalid_tools", $"{where}.{extra} is not a known tool field.");
            }
            if (function.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !FunctionFields.Contains(n)) is { } unknown)
            {
                return Error("invalid_tools", $"{where}.function.{unknown} is not a known function field (name, description, parameters, strict).");
            }
            if (!function.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String || !IsFunctionName(nameElement.GetString()!))
            {
                return Error("invalid_function_name", $"{where}.function.name must be 1-64 characters of a-z, A-Z, 0-9, _ and -.");
            }
            var name = nameElement.GetString()!;
            if (workerTools.Any(t => t.Name == name))
            {
                return Error("duplicate_function_name", $"{where}.function.name '{name}' is declared twice.");
            }
            if (function.TryGetProperty("description", out var description) && description.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                return Error("invalid_tools", $"{where}.function.description must be a string.");
            }
            if (function.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            {
                return Error("invalid_tools", $"{where}.function.strict must be true or false.");
            }
            JsonElement? parameters = null;
            if (function.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                if (p.ValueKind != JsonValueKind.Object)
                {
                    return Error("invalid_tools", $"{where}.function.parameters must be a JSON Schema object.");
                }
                parameters = p.Clone();
            }
            definitions.Add(tool.Clone());
            workerTools.Add(new InternalTool { Name = name, Parameters = parameters });
        }

        var mode = "auto";
        if (hasChoice)
        {
            if (choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto" or "required")
            {
                mode = choice.GetString()!;
            }
            else if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("type", out var ct) && ct.ValueKind == JsonValueKind.String && ct.GetString() == "function"
                     && choice.TryGetProperty("function", out var cf) && cf.ValueKind == JsonValueKind.Object
                     && cf.TryGetProperty("name", out var cn) && cn.ValueKind == JsonValueKind.String)
            {
                var named = workerTools.FirstOrDefault(t => t.Name == cn.GetString());
                if (named is null)
                {
                    return Error("invalid_tool_choice", $"'tool_choice' names the function '{cn.GetString()}', which is not in 'tools'.");
                }
                return (definitions, new WorkerToolChoice([named], "required", parallel ?? true), null);
            }
            else
            {
                return Error("invalid_tool_choice",
                    "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": \"...\"}}.");
            }
        }
        return (definitions, mode == "none" ? null : new WorkerToolChoice(workerTools, mode, parallel ?? true), null);

        static (IReadOnlyList<JsonElement>?, WorkerToolChoice?, ApiError?) Error(string code, ErrorText message) => (null, null, ApiError.InvalidRequest(code, message));
    }

    /// <summary>OpenAI's rule for function (and response schema) names: 1-64 characters of a-z, A-Z, 0-9, _ and -.</summary>
    internal static bool IsFunctionName(string name) => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}

/// <summary>What the worker enforces: the callable functions, <c>auto</c> or <c>required</c>, and whether calls may be parallel.</summary>
public sealed record WorkerToolChoice(IReadOnlyList<InternalTool> Tools, string Mode, bool Parallel);
