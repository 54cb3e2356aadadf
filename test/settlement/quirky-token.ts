// Solidity source of a deliberately misbehaving ERC-20 for the escrow tests: depending on its mode it
// returns nothing from transfer/transferFrom (like USDT), returns false instead of reverting, keeps a
// 1% fee on every transfer, or calls back into the escrow from inside a transfer to try reentrancy.
// It lives in the test tree because no production path deploys it; compileSources() compiles it.
export const QUIRKY_TOKEN_SOURCE = `// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

contract QuirkyToken {
    uint8 public constant decimals = 6;
    uint8 public mode; // 0 normal, 1 no return value, 2 returns false, 3 fee on transfer, 4 reentrant
    address public reenterTarget;
    bytes public reenterCall;
    bytes public reenterRevertData;
    bool public reenterSucceeded;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function setMode(uint8 m) external { mode = m; }
    function setReentry(address target, bytes calldata data) external { reenterTarget = target; reenterCall = data; }
    function mint(address to, uint256 amount) external { balanceOf[to] += amount; }
    function approve(address spender, uint256 amount) external returns (bool) { allowance[msg.sender][spender] = amount; return true; }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
        _finish();
    }

    function transferFrom(address from, address to, uint256 amount) external {
        require(allowance[from][msg.sender] >= amount, "allowance");
        allowance[from][msg.sender] -= amount;
        _move(from, to, amount);
        _finish();
    }

    function _move(address from, address to, uint256 amount) private {
        if (mode == 2) return; // pretends, then says false
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        uint256 fee = mode == 3 ? amount / 100 : 0;
        balanceOf[to] += amount - fee;
        if (mode == 4 && reenterTarget != address(0)) {
            (bool ok, bytes memory ret) = reenterTarget.call(reenterCall);
            reenterSucceeded = ok;
            reenterRevertData = ret;
        }
    }

    // Ends the call with the return data the mode asks for, bypassing the declared (empty) returns.
    function _finish() private view {
        uint8 m = mode;
        if (m == 1) {
            assembly { return(0, 0) }
        }
        uint256 word = m == 2 ? 0 : 1;
        assembly {
            mstore(0, word)
            return(0, 32)
        }
    }
}
`;
